{{/* The prefix of every name: the release name, with the chart's name added unless it is in it. */}}
{{- define "mcphub.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mcphub.operator.name" -}}{{ include "mcphub.fullname" . }}-operator{{- end -}}
{{- define "mcphub.hub.name" -}}{{ include "mcphub.fullname" . }}-hub{{- end -}}

{{- define "mcphub.sessionKey.secretName" -}}
{{- .Values.sessionKey.secretName | default (printf "%s-session-key" (include "mcphub.fullname" .)) -}}
{{- end -}}

{{- define "mcphub.searchDatabase.secretName" -}}
{{- .Values.hub.searchDatabase.secretName | default (printf "%s-search-database" (include "mcphub.fullname" .)) -}}
{{- end -}}

{{/* Labels of every object; "component" is operator or hub. */}}
{{- define "mcphub.labels" -}}
app.kubernetes.io/part-of: mcphub
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- with .component }}
app.kubernetes.io/name: {{ . }}
{{- end }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "mcphub.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* repository:tag, or repository@digest when a digest is set. */}}
{{- define "mcphub.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The pod and container hardening both workloads share (restricted Pod Security). */}}
{{- define "mcphub.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mcphub.containerSecurityContext" -}}
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
readOnlyRootFilesystem: true
{{- end -}}

{{/* Scheduling settings of a component's values, at pod spec indentation. */}}
{{- define "mcphub.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
