/** tickcast-client: the tickcast lockstep relay protocol (v1) over WebSocket. */
export { Client, connect, RETRIED_KICKS } from "./client.js";
export type { ClientOptions, ClientState, WebSocketConstructor, WebSocketLike } from "./client.js";
export { ClientCore, PROTOCOL_VERSION } from "./core.js";
export type { CoreOptions, Desync, Input, Member, Tick } from "./core.js";
export {
  AuthFailed,
  ConnectionClosedError,
  Kicked,
  kickError,
  reasonName,
  RemoteProtocolError,
  ResumeUnavailable,
  TickcastError,
  TickGap,
} from "./errors.js";
export { Reason } from "./gen/tickcast_pb.js";
