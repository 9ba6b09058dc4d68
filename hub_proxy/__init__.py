"""The mcphub hub proxy: one MCP endpoint in front of many MCP servers."""
