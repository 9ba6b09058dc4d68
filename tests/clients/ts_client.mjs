// An MCP client on the TypeScript SDK, driven by a plan: see tests/clients/driver.py.
//
// Run with the test bed's Node 22:  node ts_client.mjs PLAN_JSON
// The SDK is imported from the test bed's node_modules, named by MCPHUB_NODE_MODULES.
// One JSON object per line on stdout: at a "wait" step {"event": "waiting", "label", ...}
// with what the client saw so far (a line on stdin lets it go on), and
// {"event": "report", ...} last.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import path from "node:path";

const sdk = (relative) =>
  import(pathToFileURL(path.join(process.env.MCPHUB_NODE_MODULES, "@modelcontextprotocol/sdk/dist/esm", relative)).href);
const { Client } = await sdk("client/index.js");
const { StreamableHTTPClientTransport } = await sdk("client/streamableHttp.js");
const { SSEClientTransport } = await sdk("client/sse.js");
const types = await sdk("types.js");

const plan = JSON.parse(process.argv[2]);
const notifications = [];
const requests = [];
const results = [];
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
// What the test handed over when it let a "wait" step go on, by the step's label.
const given = {};
const taskId = (ref) => (ref.step !== undefined ? results[ref.step].result.task.taskId : given[ref.given]);
const say = (object) => process.stdout.write(JSON.stringify(object) + "\n");

const capabilities = {};
if (plan.roots !== null) capabilities.roots = { listChanged: true };
if (plan.sampling !== null) capabilities.sampling = {};
if (plan.elicitation !== null) capabilities.elicitation = {};
const client = new Client({ name: "mcphub-test-ts", version: "1.0.0" }, { capabilities });
client.fallbackNotificationHandler = async (notification) => {
  notifications.push({ method: notification.method, params: notification.params ?? {} });
};
for (const schema of [types.LoggingMessageNotificationSchema, types.ResourceUpdatedNotificationSchema]) {
  client.setNotificationHandler(schema, async (notification) => {
    notifications.push({ method: notification.method, params: notification.params ?? {} });
  });
}
if (plan.roots !== null) {
  client.setRequestHandler(types.ListRootsRequestSchema, async (request) => {
    requests.push({ method: request.method, params: request.params ?? {} });
    return { roots: plan.roots };
  });
}
if (plan.sampling !== null) {
  client.setRequestHandler(types.CreateMessageRequestSchema, async (request) => {
    requests.push({ method: request.method, params: request.params ?? {} });
    return { role: "assistant", content: { type: "text", text: plan.sampling }, model: `${plan.sampling}-model` };
  });
}
if (plan.elicitation !== null) {
  client.setRequestHandler(types.ElicitRequestSchema, async (request) => {
    requests.push({ method: request.method, params: request.params ?? {} });
    return { action: "accept", content: plan.elicitation };
  });
}

const url = new URL(plan.url);
const init = { requestInit: { headers: plan.headers } };
const transport =
  plan.transport === "sse" ? new SSEClientTransport(url, init) : new StreamableHTTPClientTransport(url, init);
await client.connect(transport);

async function attempt(work) {
  try {
    return { result: await work() };
  } catch (error) {
    return { error: { code: error.code ?? null, message: String(error.message ?? error) } };
  }
}

for (const step of plan.steps) {
  switch (step.do) {
    case "call":
      results.push(await attempt(() => client.callTool({ name: step.name, arguments: step.arguments ?? {} })));
      break;
    case "subscribe":
      results.push(await attempt(() => client.subscribeResource({ uri: step.uri })));
      break;
    case "unsubscribe":
      results.push(await attempt(() => client.unsubscribeResource({ uri: step.uri })));
      break;
    case "roots_changed":
      results.push(await attempt(() => client.sendRootsListChanged()));
      break;
    case "call_task":
      results.push(
        await attempt(() =>
          client.request(
            { method: "tools/call", params: { name: step.name, arguments: step.arguments ?? {}, task: { ttl: 60000 } } },
            types.CreateTaskResultSchema,
          ),
        ),
      );
      break;
    case "get_task":
      results.push(await attempt(() => client.experimental.tasks.getTask(taskId(step.task))));
      break;
    case "task_result":
      results.push(await attempt(() => client.experimental.tasks.getTaskResult(taskId(step.task), types.CallToolResultSchema)));
      break;
    case "cancel_task":
      results.push(await attempt(() => client.experimental.tasks.cancelTask(taskId(step.task))));
      break;
    case "list_tasks":
      results.push(await attempt(() => client.experimental.tasks.listTasks()));
      break;
    case "sleep":
      await new Promise((resolve) => setTimeout(resolve, step.seconds * 1000));
      results.push(null);
      break;
    case "wait":
      say({ event: "waiting", label: step.label, results, notifications, requests });
      given[step.label] = (await lines.next()).value;
      results.push(null);
      break;
    default:
      throw new Error(`unknown step ${JSON.stringify(step)}`);
  }
}
await client.close();
say({ event: "report", results, notifications, requests });
process.exit(0);
