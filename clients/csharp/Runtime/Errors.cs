// Everything the client reports as an error: one exception type per Kick reason
// (all derived from KickedException), and the errors that are not kicks. The
// connection layer never throws these at the game from a socket thread: a
// stream that cannot go on ends with a Closed event carrying one of them.
using System;

namespace Tickcast
{
    /// <summary>The protocol's Kick reasons (enum Reason of tickcast.proto).</summary>
    /// <remarks>A newer server may send a value not listed here; it is kept as its number.</remarks>
    public enum KickReason
    {
        Unspecified = 0,
        ProtocolError = 1,
        HandshakeTimeout = 2,
        AuthFailed = 3,
        Replaced = 4,
        SlowConsumer = 5,
        RateLimited = 6,
        FrameTooLarge = 7,
        RoomFull = 8,
        ResumeUnavailable = 9,
        ServerShutdown = 10,
        IdleTimeout = 11,
        VersionMismatch = 12,
        RoomClosed = 13,
        Redirect = 14,
    }

    /// <summary>Base class of every error the tickcast client reports.</summary>
    public class TickcastException : Exception
    {
        public TickcastException(string message) : base(message) { }
        public TickcastException(string message, Exception inner) : base(message, inner) { }
    }

    /// <summary>The server broke the protocol (a bad frame, a Welcome out of place, a resume
    /// that does not continue where it should). The client does not retry: it is a bug.</summary>
    public class RemoteProtocolException : TickcastException
    {
        public RemoteProtocolException(string message) : base(message) { }
    }

    /// <summary>The server skipped a tick number and <see cref="ClientOptions.SkipEmptyTicks"/> is off:
    /// going on would silently lose inputs.</summary>
    public class TickGapException : TickcastException
    {
        public TickGapException(ulong expected, ulong got)
            : base("tick stream gap: expected tick " + expected + ", got " + got)
        {
            Expected = expected;
            Got = got;
        }

        public ulong Expected { get; private set; }
        public ulong Got { get; private set; }
    }

    /// <summary>The client cannot (or can no longer) reach the server: the first connection
    /// failed, or <see cref="ClientOptions.MaxAttempts"/> reconnects in a row failed
    /// (<see cref="Exception.InnerException"/> is the last failure); or an operation needed an open client.</summary>
    public class ConnectionClosedException : TickcastException
    {
        public ConnectionClosedException(string message) : base(message) { }
        public ConnectionClosedException(string message, Exception inner) : base(message, inner) { }
    }

    /// <summary>The server ended the connection with <c>Kick{reason, detail}</c>.</summary>
    /// <remarks>
    /// Every reason has its own subclass (<see cref="RoomFullException"/>, ...);
    /// <see cref="KickReason.Unspecified"/> (an operator's kick) and reasons this
    /// client does not know are a plain <see cref="KickedException"/>.
    /// <see cref="Retried"/> says whether the client resumes after it on its own.
    /// </remarks>
    public class KickedException : TickcastException
    {
        public KickedException(KickReason reason, string detail, string redirect = "")
            : base(Describe(reason, detail))
        {
            Reason = reason;
            Detail = detail ?? "";
            Redirect = redirect ?? "";
        }

        public KickReason Reason { get; private set; }

        /// <summary>The server's human-readable explanation (for logs).</summary>
        public string Detail { get; private set; }

        /// <summary>With <see cref="KickReason.Redirect"/>: the "host:port" to connect to.</summary>
        public string Redirect { get; private set; }

        /// <summary>The reason in the protocol's spelling, e.g. "ROOM_FULL" (or "REASON_42" for an unknown one).</summary>
        public string ReasonName { get { return NameOf(Reason); } }

        /// <summary>Does the client reconnect and resume after this kick (with backoff)?
        /// A redirect is followed at once; every other reason ends the stream.</summary>
        public bool Retried { get { return IsRetried(Reason); } }

        /// <summary>The kicks after which resuming makes sense: the client backs off and resumes.</summary>
        public static bool IsRetried(KickReason reason)
        {
            switch (reason)
            {
                case KickReason.SlowConsumer:      // we fell behind: a resume catches up from history
                case KickReason.ServerShutdown:    // a restart or a rolling deploy: come back
                case KickReason.IdleTimeout:       // our pings did not get through in time
                case KickReason.HandshakeTimeout:  // our Hello did not get through in time
                case KickReason.RateLimited:       // back off, then go on
                    return true;
                default:
                    return false;
            }
        }

        /// <summary>"SLOW_CONSUMER" for <see cref="KickReason.SlowConsumer"/>, as the protocol spells it.</summary>
        public static string NameOf(KickReason reason)
        {
            switch (reason)
            {
                case KickReason.Unspecified: return "UNSPECIFIED";
                case KickReason.ProtocolError: return "PROTOCOL_ERROR";
                case KickReason.HandshakeTimeout: return "HANDSHAKE_TIMEOUT";
                case KickReason.AuthFailed: return "AUTH_FAILED";
                case KickReason.Replaced: return "REPLACED";
                case KickReason.SlowConsumer: return "SLOW_CONSUMER";
                case KickReason.RateLimited: return "RATE_LIMITED";
                case KickReason.FrameTooLarge: return "FRAME_TOO_LARGE";
                case KickReason.RoomFull: return "ROOM_FULL";
                case KickReason.ResumeUnavailable: return "RESUME_UNAVAILABLE";
                case KickReason.ServerShutdown: return "SERVER_SHUTDOWN";
                case KickReason.IdleTimeout: return "IDLE_TIMEOUT";
                case KickReason.VersionMismatch: return "VERSION_MISMATCH";
                case KickReason.RoomClosed: return "ROOM_CLOSED";
                case KickReason.Redirect: return "REDIRECT";
                default: return "REASON_" + (int)reason;
            }
        }

        /// <summary>The typed exception of a Kick.</summary>
        public static KickedException From(KickReason reason, string detail, string redirect = "")
        {
            switch (reason)
            {
                case KickReason.ProtocolError: return new ProtocolErrorException(detail);
                case KickReason.HandshakeTimeout: return new HandshakeTimeoutException(detail);
                case KickReason.AuthFailed: return new AuthFailedException(detail);
                case KickReason.Replaced: return new ReplacedException(detail);
                case KickReason.SlowConsumer: return new SlowConsumerException(detail);
                case KickReason.RateLimited: return new RateLimitedException(detail);
                case KickReason.FrameTooLarge: return new FrameTooLargeException(detail);
                case KickReason.RoomFull: return new RoomFullException(detail);
                case KickReason.ResumeUnavailable: return new ResumeUnavailableException(detail);
                case KickReason.ServerShutdown: return new ServerShutdownException(detail);
                case KickReason.IdleTimeout: return new IdleTimeoutException(detail);
                case KickReason.VersionMismatch: return new VersionMismatchException(detail);
                case KickReason.RoomClosed: return new RoomClosedException(detail);
                case KickReason.Redirect: return new RedirectException(detail, redirect);
                default: return new KickedException(reason, detail, redirect);
            }
        }

        static string Describe(KickReason reason, string detail)
        {
            return string.IsNullOrEmpty(detail) ? "kicked: " + NameOf(reason) : "kicked: " + NameOf(reason) + ": " + detail;
        }
    }

    /// <summary>PROTOCOL_ERROR: this client broke the protocol (a bug: do not retry; log the detail).</summary>
    public class ProtocolErrorException : KickedException
    {
        public ProtocolErrorException(string detail) : base(KickReason.ProtocolError, detail) { }
    }

    /// <summary>HANDSHAKE_TIMEOUT: the Hello did not arrive in time. Retried.</summary>
    public class HandshakeTimeoutException : KickedException
    {
        public HandshakeTimeoutException(string detail) : base(KickReason.HandshakeTimeout, detail) { }
    }

    /// <summary>AUTH_FAILED: the token is missing, expired, badly signed, or for another player or room;
    /// <see cref="KickedException.Detail"/> says which check failed. Get a fresh token.</summary>
    public class AuthFailedException : KickedException
    {
        public AuthFailedException(string detail) : base(KickReason.AuthFailed, detail) { }
    }

    /// <summary>REPLACED: the same player connected again elsewhere; this connection is the older one.</summary>
    public class ReplacedException : KickedException
    {
        public ReplacedException(string detail) : base(KickReason.Replaced, detail) { }
    }

    /// <summary>SLOW_CONSUMER: this client did not read fast enough. Retried (a resume catches up).</summary>
    public class SlowConsumerException : KickedException
    {
        public SlowConsumerException(string detail) : base(KickReason.SlowConsumer, detail) { }
    }

    /// <summary>RATE_LIMITED: too many inputs or bytes per second. Retried after backoff; send less.</summary>
    public class RateLimitedException : KickedException
    {
        public RateLimitedException(string detail) : base(KickReason.RateLimited, detail) { }
    }

    /// <summary>FRAME_TOO_LARGE: a frame of this client was over the server's max_frame (a bug: shrink payloads).</summary>
    public class FrameTooLargeException : KickedException
    {
        public FrameTooLargeException(string detail) : base(KickReason.FrameTooLarge, detail) { }
    }

    /// <summary>ROOM_FULL: the room has its maximum of players (or the server its maximum of rooms).</summary>
    public class RoomFullException : KickedException
    {
        public RoomFullException(string detail) : base(KickReason.RoomFull, detail) { }
    }

    /// <summary>RESUME_UNAVAILABLE: the missed ticks are no longer kept, or the membership ended.
    /// Start a fresh client (with <see cref="ClientOptions.FullHistory"/> if the game must replay the room).</summary>
    public class ResumeUnavailableException : KickedException
    {
        public ResumeUnavailableException(string detail) : base(KickReason.ResumeUnavailable, detail) { }
    }

    /// <summary>SERVER_SHUTDOWN: the server is stopping. Retried.</summary>
    public class ServerShutdownException : KickedException
    {
        public ServerShutdownException(string detail) : base(KickReason.ServerShutdown, detail) { }
    }

    /// <summary>IDLE_TIMEOUT: nothing was received from this client for the server's idle timeout. Retried.</summary>
    public class IdleTimeoutException : KickedException
    {
        public IdleTimeoutException(string detail) : base(KickReason.IdleTimeout, detail) { }
    }

    /// <summary>VERSION_MISMATCH: the server does not speak this client's protocol version.</summary>
    public class VersionMismatchException : KickedException
    {
        public VersionMismatchException(string detail) : base(KickReason.VersionMismatch, detail) { }
    }

    /// <summary>ROOM_CLOSED: an operator closed the room.</summary>
    public class RoomClosedException : KickedException
    {
        public RoomClosedException(string detail) : base(KickReason.RoomClosed, detail) { }
    }

    /// <summary>REDIRECT: this node does not host the room; the client follows it at once
    /// (up to <see cref="ClientOptions.MaxRedirects"/> in a row, then this ends the stream).</summary>
    public class RedirectException : KickedException
    {
        public RedirectException(string detail, string redirect) : base(KickReason.Redirect, detail, redirect) { }
    }
}
