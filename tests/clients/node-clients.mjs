// Drives @connectrpc/connect-node's gRPC, gRPC-Web and Connect transports (binary and JSON,
// HTTP/1.1 and HTTP/2) through the proxy at the URL given, and prints a JSON report on
// standard output: {"cases": [{"name", "ok", "ms", "error"?}, ...]}. Progress goes to standard
// error. Further arguments keep only the transports whose names start with one of them
// (`grpc/`, `grpc-web/`, `connect/`).
//
//   node node-clients.mjs http://127.0.0.1:8080 [grpc/ grpc-web/ connect/]

import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { runCases, transportCases } from "./cases.mjs";

const [baseUrl, ...only] = process.argv.slice(2);
if (!baseUrl) {
  console.error("usage: node node-clients.mjs <proxy URL> [transport prefix...]");
  process.exit(2);
}

const GRPC_TIMEOUT = { "grpc-timeout": "300m" };
const CONNECT_TIMEOUT = { "connect-timeout-ms": "300" };

/** Every transport under test: a name, the transport, and what it can do. */
function transports() {
  const list = [];
  for (const json of [false, true]) {
    const codec = json ? "json" : "proto";
    const useBinaryFormat = !json;
    list.push({
      name: `grpc/${codec}/h2`,
      transport: createGrpcTransport({ baseUrl, useBinaryFormat }),
      caps: { clientStreaming: true, timeoutHeader: GRPC_TIMEOUT },
    });
    for (const httpVersion of ["1.1", "2"]) {
      const http = httpVersion === "2" ? "h2" : "h1";
      list.push({
        name: `grpc-web/${codec}/${http}`,
        transport: createGrpcWebTransport({ baseUrl, httpVersion, useBinaryFormat }),
        caps: { timeoutHeader: GRPC_TIMEOUT },
      });
      const connect = (extra = {}) =>
        createConnectTransport({ baseUrl, httpVersion, useBinaryFormat, ...extra });
      list.push({
        name: `connect/${codec}/${http}`,
        transport: connect(),
        caps: {
          // Connect streams requests only over HTTP/2 in Node.js.
          clientStreaming: httpVersion === "2",
          timeoutHeader: CONNECT_TIMEOUT,
          get: connect({ useHttpGet: true }),
          getCompressed: connect({ useHttpGet: true, sendCompression: compressionGzip }),
          compressed: connect({
            sendCompression: compressionGzip,
            acceptCompression: [compressionGzip],
          }),
        },
      });
    }
  }
  return list.filter((t) => only.length === 0 || only.some((prefix) => t.name.startsWith(prefix)));
}

const log = (line) => process.stderr.write(`${line}\n`);
const results = [];
for (const { name, transport, caps } of transports()) {
  results.push(...(await runCases(name, transportCases(transport, caps), { log })));
}
process.stdout.write(`${JSON.stringify({ cases: results })}\n`);
// HTTP/2 sessions the transports keep open would hold the process.
process.exit(0);
