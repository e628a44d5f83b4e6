using System;
using System.Collections.Generic;

namespace Tickcast
{
    public enum ClientEventKind
    {
        /// <summary>The first Welcome: <see cref="ClientEvent.Slot"/>, <see cref="ClientEvent.FirstTick"/>
        /// and <see cref="ClientEvent.Members"/> (the room before the first tick) are set.</summary>
        Welcomed,

        /// <summary>The next tick, in order, each exactly once: <see cref="ClientEvent.Tick"/>.</summary>
        Tick,

        /// <summary>A welcomed connection was lost (<see cref="ClientEvent.Error"/> says how); the client
        /// is reconnecting. Nothing to do: inputs sent meanwhile wait, and no tick will be missed.</summary>
        Disconnected,

        /// <summary>A reconnect was welcomed and resumed after the last tick received
        /// (<see cref="ClientEvent.Reconnects"/> counts them).</summary>
        Resumed,

        /// <summary>The UDP session of the current connection changed mode (<see cref="ClientEvent.UdpMode"/>):
        /// Probing after a Welcome that offered UDP, Active while ticks come by datagram, Fallback while
        /// everything goes by the stream again, Closed when the session can send no more. Nothing to do:
        /// ticks arrive in order and exactly once on whichever path.</summary>
        UdpModeChanged,

        /// <summary>The stream ended; always the last event. <see cref="ClientEvent.Error"/> is null after
        /// <see cref="TickcastClient.Leave"/> or <see cref="TickcastClient.Close"/>, else why it cannot go on
        /// (a <see cref="KickedException"/> subclass, <see cref="ConnectionClosedException"/>, ...).</summary>
        Closed,
    }

    /// <summary>Something that happened to the client, delivered by <see cref="TickcastClient.Poll"/>
    /// on the thread that polls (the game's main thread).</summary>
    public sealed class ClientEvent
    {
        internal ClientEvent(ClientEventKind kind)
        {
            Kind = kind;
        }

        public ClientEventKind Kind { get; private set; }

        /// <summary>With <see cref="ClientEventKind.Tick"/>.</summary>
        public Tick Tick { get; internal set; }

        /// <summary>With <see cref="ClientEventKind.Disconnected"/> and <see cref="ClientEventKind.Closed"/>.</summary>
        public Exception Error { get; internal set; }

        /// <summary>With <see cref="ClientEventKind.Welcomed"/> and <see cref="ClientEventKind.Resumed"/>: this client's slot (0 for a spectator).</summary>
        public uint Slot { get; internal set; }

        /// <summary>With <see cref="ClientEventKind.Welcomed"/>: the number of the first tick that will come.</summary>
        public ulong FirstTick { get; internal set; }

        /// <summary>With <see cref="ClientEventKind.Welcomed"/>: the members before the first tick.</summary>
        public IReadOnlyList<Member> Members { get; internal set; }

        /// <summary>With <see cref="ClientEventKind.Resumed"/>: reconnects so far.</summary>
        public int Reconnects { get; internal set; }

        /// <summary>With <see cref="ClientEventKind.Welcomed"/> and <see cref="ClientEventKind.Resumed"/>: the server connected to.</summary>
        public Endpoint Endpoint { get; internal set; }

        /// <summary>With <see cref="ClientEventKind.UdpModeChanged"/>: the new mode.</summary>
        public Tickcast.Udp.UdpMode UdpMode { get; internal set; }

        public override string ToString()
        {
            switch (Kind)
            {
                case ClientEventKind.Tick: return "Tick " + Tick.Number;
                case ClientEventKind.Welcomed: return "Welcomed slot " + Slot + " first tick " + FirstTick + " at " + Endpoint;
                case ClientEventKind.Resumed: return "Resumed (" + Reconnects + ") at " + Endpoint;
                case ClientEventKind.UdpModeChanged: return "UDP " + UdpMode;
                default: return Kind + (Error == null ? "" : ": " + Error.Message);
            }
        }
    }
}
