/**
 * The exception tree of the client, mirroring the Python SDK's (`tickcast.errors`):
 * a Kick surfaces as `Kicked` (or its subclasses `AuthFailed`, `ResumeUnavailable`).
 */
import { Reason } from "./gen/tickcast_pb.js";

/** Base class of every error the client raises. */
export class TickcastError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The server broke the protocol (e.g. a resume that did not start where asked). */
export class RemoteProtocolError extends TickcastError {}

/** The connection is gone for good: closed by the application or reconnects ran out. */
export class ConnectionClosedError extends TickcastError {}

/** A tick number was skipped in a room that does not skip empty ticks. */
export class TickGap extends TickcastError {
  constructor(
    readonly expected: number,
    readonly got: number,
  ) {
    super(`tick gap: expected ${expected}, got ${got}`);
  }
}

/** "ROOM_FULL" for `Reason.ROOM_FULL`: the enum name without its prefix. */
export function reasonName(reason: Reason): string {
  return Reason[reason] ?? `REASON_${reason}`;
}

/** The server ended the connection with `Kick{reason, detail}`. */
export class Kicked extends TickcastError {
  constructor(
    readonly reason: Reason,
    readonly detail = "",
    readonly redirect = "",
  ) {
    super(detail ? `kicked: ${reasonName(reason)}: ${detail}` : `kicked: ${reasonName(reason)}`);
  }

  /** The reason without its prefix, e.g. "ROOM_FULL". */
  get reasonName(): string {
    return reasonName(this.reason);
  }
}

/** The token was refused (missing, expired, for another player or room). */
export class AuthFailed extends Kicked {}

/** The ticks after the resume point are no longer kept by the server. */
export class ResumeUnavailable extends Kicked {}

/** The typed error of a Kick. */
export function kickError(reason: Reason, detail = "", redirect = ""): Kicked {
  if (reason === Reason.AUTH_FAILED) return new AuthFailed(reason, detail);
  if (reason === Reason.RESUME_UNAVAILABLE) return new ResumeUnavailable(reason, detail);
  return new Kicked(reason, detail, redirect);
}
