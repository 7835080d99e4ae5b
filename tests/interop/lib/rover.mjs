// gRPC clients of the rover.v1 services built with @grpc/grpc-js + @grpc/proto-loader from
// OUR .proto files, with promise wrappers for the unary calls.
import path from "node:path";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import { PROTO_FILES, REPO_ROOT } from "./integration.mjs";

// longs as strings and enums as names: the same shapes as the canonical JSON mapping.
const definition = protoLoader.loadSync(
  PROTO_FILES.map((file) => path.join(REPO_ROOT, file)),
  { includeDirs: [REPO_ROOT], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true },
);
const rover = grpc.loadPackageDefinition(definition).rover.v1;

const DEADLINE_MS = 10_000;

function promisify(client, method) {
  return (request, { deadlineMs = DEADLINE_MS } = {}) =>
    new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + deadlineMs);
      client[method](request, { deadline }, (error, response) => (error ? reject(error) : resolve(response)));
    });
}

export function connect({ command, query, live }) {
  const credentials = grpc.credentials.createInsecure();
  const commands = new rover.RoverCommandService(command, credentials);
  const queries = new rover.RoverQueryService(query, credentials);
  const watcher = new rover.RoverLiveService(live, credentials);
  const unary = (client, names) => Object.fromEntries(names.map((n) => [n, promisify(client, n)]));
  return {
    ...unary(commands, [
      "CreateGrid",
      "CreateRover",
      "MoveRoverForward",
      "MoveRoverBackward",
      "TurnRoverLeft",
      "TurnRoverRight",
      "ExecuteRoverCommands",
    ]),
    ...unary(queries, ["GetGridDetails", "ListGrids", "GetRover"]),
    // Server streaming: returns the grpc-js ClientReadableStream of GridUpdate.
    WatchGrid: (request) => watcher.WatchGrid(request),
    close() {
      for (const client of [commands, queries, watcher]) client.close();
    },
  };
}

export { grpc };
