// The client side of one UDP session (docs/protocol.md, "The UDP transport"),
// sans-I/O: no sockets, no threads, no clock (time is a parameter). It checks
// and merges the server's datagrams with the stream's ticks, decides which path
// each input takes, builds the client's datagrams (the highest contiguous tick,
// the oldest unconfirmed inputs, the challenge's echo, pings) and runs the
// probing / active / fallback modes on their timers. It hands the merged ticks
// to the client's ClientCore (which drops confirmed inputs) before it builds a
// datagram, so a datagram never carries an input its own ticks confirmed. The
// connection layer (TickcastClient) carries out what it returns in a UdpActions.
using System;
using System.Collections.Generic;
using Tickcast.Protocol;

namespace Tickcast.Udp
{
    /// <summary>Where a UDP session stands.</summary>
    public enum UdpMode
    {
        /// <summary>After the Welcome: probing whether datagrams pass both ways; ticks and inputs on the stream.</summary>
        Probing,
        /// <summary>Datagrams pass: ticks come by datagram, new inputs go by datagram.</summary>
        Active,
        /// <summary>Datagrams stopped (or never came): everything on the stream, a probe now and then to come back.</summary>
        Fallback,
        /// <summary>No more datagrams on this session (its 32-bit seq ran out, or it was closed): the stream only.</summary>
        Closed,
    }

    /// <summary>The timers of the modes (the reference client's defaults; values of the same order work with the server).</summary>
    public sealed class UdpTimers
    {
        /// <summary>Probing: a probe at once and then every ...</summary>
        public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromMilliseconds(250);

        /// <summary>Probing: no valid server datagram within this: fallback.</summary>
        public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

        /// <summary>Active: a datagram at least this often.</summary>
        public TimeSpan Keepalive { get; set; } = TimeSpan.FromMilliseconds(500);

        /// <summary>Active: the first datagram this long after the last ping carries a ping (the pongs keep the
        /// silence timer honest in a quiet room; with the defaults every keepalive has one).</summary>
        public TimeSpan PingInterval { get; set; } = TimeSpan.FromMilliseconds(500);

        /// <summary>Active: no valid server datagram for this long: fallback.</summary>
        public TimeSpan Silence { get; set; } = TimeSpan.FromSeconds(2);

        /// <summary>Fallback: a probe this often.</summary>
        public TimeSpan FallbackProbeInterval { get; set; } = TimeSpan.FromSeconds(2);

        internal UdpTimers Copy()
        {
            return (UdpTimers)MemberwiseClone();
        }
    }

    /// <summary>What a call to a <see cref="UdpSession"/> asks its caller to do: hand <see cref="Ticks"/>
    /// to the game, write <see cref="StreamMessages"/> on the stream, send <see cref="Datagrams"/>.</summary>
    public sealed class UdpActions
    {
        /// <summary>Ticks for the game, in order, each once (from either path, through the ClientCore).</summary>
        public readonly List<Tick> Ticks = new List<Tick>();

        /// <summary>ClientMessage bodies (inputs) to write on the stream, in order.</summary>
        public readonly List<byte[]> StreamMessages = new List<byte[]>();

        /// <summary>Datagrams to send to the server's UDP address.</summary>
        public readonly List<byte[]> Datagrams = new List<byte[]>();

        /// <summary>The session's <see cref="UdpSession.Mode"/> changed.</summary>
        public bool ModeChanged;

        public void Clear()
        {
            Ticks.Clear();
            StreamMessages.Clear();
            Datagrams.Clear();
            ModeChanged = false;
        }
    }

    /// <summary>One UDP session beside one stream connection (from its Welcome to its end).</summary>
    /// <remarks>Not thread-safe: the connection layer calls it under its lock.</remarks>
    public sealed class UdpSession : IDisposable
    {
        const int PingsRemembered = 8;

        readonly byte[] sessionId;
        readonly DatagramKey key;
        readonly ReplayWindow window = new ReplayWindow();
        readonly TickMerger merger;
        readonly ClientCore core;
        readonly IEnumerable<PendingInput> unconfirmed;
        readonly List<MergedTick> merged = new List<MergedTick>();
        readonly UdpTimers timers;
        readonly long[] refused = new long[(int)DatagramRefusal.Body + 1];
        readonly Queue<KeyValuePair<ulong, TimeSpan>> pings = new Queue<KeyValuePair<ulong, TimeSpan>>();
        uint lastSentSeq;        // the seq of our last datagram (0: none yet)
        uint lastStreamSeq;      // the highest input seq written on the stream
        byte[] challenge;        // of the newest server datagram, or null
        ulong nextNonce = 1;
        TimeSpan started, lastValid, lastSent, lastPing, nextProbe;
        bool disposed;

        /// <summary>A session from a usable offer (see <see cref="Usable"/>), right after <paramref name="core"/>
        /// took the Welcome (and the stream carried its resend): the next tick is the core's resume point
        /// plus 1, and the stream has carried every input numbered so far.</summary>
        public UdpSession(ClientCore core, UdpOffer offer, UdpTimers timers = null)
        {
            string why = Usable(offer);
            if (why != null)
                throw new ArgumentException("unusable UDP offer: " + why, "offer");
            if (core == null || !core.Welcomed)
                throw new ArgumentException("a UDP session starts after the core's Welcome", "core");
            sessionId = (byte[])offer.SessionId.Clone();
            key = new DatagramKey(offer.Key);
            merger = new TickMerger(core.Received + 1);
            this.core = core;
            lastStreamSeq = core.NextSeq - 1;
            unconfirmed = core.Unconfirmed;
            this.timers = (timers ?? new UdpTimers()).Copy();
            Mode = UdpMode.Probing;
        }

        /// <summary>Null if this client can use <paramref name="offer"/>, else why not (then stay on the stream).
        /// The host is not resolved here: an unresolvable host is the connection layer's to detect.</summary>
        public static string Usable(UdpOffer offer)
        {
            if (offer == null)
                return "no offer";
            if (offer.Version != Datagram.Version)
                return "datagram version " + offer.Version + " (this client speaks " + Datagram.Version + ")";
            if (offer.SessionId.Length != Datagram.SessionIdSize)
                return "a session id of " + offer.SessionId.Length + " bytes";
            if (offer.Key.Length != Datagram.KeySize)
                return "a key of " + offer.Key.Length + " bytes";
            if (offer.Port == 0 || offer.Port > 65535)
                return "port " + offer.Port;
            return null;
        }

        public UdpMode Mode { get; private set; }

        /// <summary>Every tick up to this was applied (or skipped): what the datagrams acknowledge.</summary>
        public ulong Received { get { return merger.Next - 1; } }

        /// <summary>The round trip of the last ping answered by datagram; null before the first.</summary>
        public TimeSpan? Rtt { get; private set; }

        /// <summary>When the session wants <see cref="OnTimer"/> called next (<see cref="TimeSpan.MaxValue"/>: never).</summary>
        public TimeSpan NextDeadline
        {
            get
            {
                switch (Mode)
                {
                    case UdpMode.Probing:
                        return Min(nextProbe, started + timers.ProbeTimeout);
                    case UdpMode.Active:
                        // a ping rides on the first datagram after PingInterval: keepalives carry it in a quiet room
                        return Min(lastValid + timers.Silence, lastSent + timers.Keepalive);
                    case UdpMode.Fallback:
                        return nextProbe;
                    default:
                        return TimeSpan.MaxValue;
                }
            }
        }

        // counters (diagnostics)
        public long DatagramsSent { get; private set; }
        public long DatagramsReceived { get; private set; }
        public long BytesSent { get; private set; }
        public long BytesReceived { get; private set; }
        public int Fallbacks { get; private set; }
        public long TicksViaDatagram { get { return merger.ViaDatagram; } }
        public long TicksViaStream { get { return merger.ViaStream; } }
        public long DuplicateTicks { get { return merger.Duplicates; } }
        public long RepairedTicks { get { return merger.Repaired; } }
        public int KeptTicks { get { return merger.Kept; } }

        /// <summary>Received datagrams dropped, by reason.</summary>
        public long Refused(DatagramRefusal reason)
        {
            return refused[(int)reason];
        }

        public long RefusedTotal
        {
            get
            {
                long n = 0;
                foreach (var r in refused)
                    n += r;
                return n;
            }
        }

        /// <summary>For tests (of the end of the 32-bit seq): the session behaves as if it had sent
        /// datagrams up to <paramref name="seq"/>.</summary>
        public void SkipSeqTo(uint seq)
        {
            lastSentSeq = seq;
        }

        // ------------------------------------------------------------ events

        /// <summary>Right after the Welcome: the first probe, at once.</summary>
        public void Start(TimeSpan now, UdpActions act)
        {
            started = now;
            lastValid = lastSent = lastPing = now;
            Probe(now, act);
            nextProbe = now + timers.ProbeInterval;
        }

        /// <summary>A datagram from the server's address. Returns why it was dropped (None: it was used).</summary>
        public DatagramRefusal OnDatagram(byte[] data, int offset, int count, TimeSpan now, UdpActions act)
        {
            if (disposed)
                return DatagramRefusal.Session;
            bool newest = count >= Datagram.HeaderSize && window.IsNewest(Datagram.SeqOf(data, offset));
            ServerDatagram d;
            var refusal = Datagram.ReadServer(data, offset, count, sessionId, key, window, out d);
            if (refusal != DatagramRefusal.None)
            {
                refused[(int)refusal]++;
                return refusal;
            }
            DatagramsReceived++;
            BytesReceived += count;
            lastValid = now;
            if (newest)
                challenge = d.Challenge;   // only the newest one's challenge counts
            if (d.Pong.HasValue)
                OnPong(d.Pong.Value, now);
            ulong before = merger.Next;
            merger.OnDatagram(d, merged);
            Apply(act);
            bool due = merger.Next != before || (newest && d.Challenge != null);
            if (Mode == UdpMode.Probing || Mode == UdpMode.Fallback)
            {
                SetMode(UdpMode.Active, act);
                due = true;   // say so at once: the server sends ticks by datagram from then on
            }
            if (due && Mode == UdpMode.Active)
                Send(now, act);
            return DatagramRefusal.None;
        }

        /// <summary>Tick <paramref name="number"/> arrived on the stream.</summary>
        public void OnStreamTick(ulong number, ServerMessage message, TimeSpan now, UdpActions act)
        {
            CheckTimeouts(now, act);
            ulong before = merger.Next;
            merger.OnStream(number, message, merged);
            Apply(act);
            if (merger.Next != before && Mode == UdpMode.Active)
                Send(now, act);   // acknowledge at once: the server stops repeating it
        }

        /// <summary>The game sent an input (already numbered by the core's NextInput): by datagram
        /// while active and every unconfirmed input fits in one, else by the stream.</summary>
        public void OnInput(TimeSpan now, UdpActions act)
        {
            CheckTimeouts(now, act);   // a late timer must not send an input into a silence
            if (Mode == UdpMode.Active && UnconfirmedFit())
                Send(now, act);
            else
                FlushToStream(act);
        }

        /// <summary>The time <see cref="NextDeadline"/> named came (calling it early is harmless).</summary>
        public void OnTimer(TimeSpan now, UdpActions act)
        {
            if (CheckTimeouts(now, act))
                return;
            switch (Mode)
            {
                case UdpMode.Probing:
                    if (now >= nextProbe)
                    {
                        Probe(now, act);
                        nextProbe = now + timers.ProbeInterval;
                    }
                    break;
                case UdpMode.Active:
                    if (now >= lastSent + timers.Keepalive)
                        Send(now, act);
                    break;
                case UdpMode.Fallback:
                    if (now >= nextProbe)
                    {
                        Probe(now, act);
                        nextProbe = now + timers.FallbackProbeInterval;
                    }
                    break;
            }
        }

        /// <summary>Ends the session (the stream connection ended): nothing more is sent.</summary>
        public void Dispose()
        {
            if (disposed)
                return;
            disposed = true;
            Mode = UdpMode.Closed;
            key.Dispose();
        }

        // ------------------------------------------------------------ inside

        /// <summary>Hands what the merge released to the core: typed ticks, confirmed inputs dropped.
        /// Without SkipEmptyTicks a skipped number throws TickGapException, as on the stream.</summary>
        void Apply(UdpActions act)
        {
            try
            {
                foreach (var t in merged)
                    act.Ticks.AddRange(t.IsSkip ? core.OnSkipped(t.Number) : core.OnTick(t.Message.Tick, t.Message.TickBytes));
            }
            finally
            {
                merged.Clear();
            }
        }

        /// <summary>Falls back if the probing timeout or the silence has run out; true if it did.</summary>
        bool CheckTimeouts(TimeSpan now, UdpActions act)
        {
            if ((Mode == UdpMode.Probing && now >= started + timers.ProbeTimeout)
                || (Mode == UdpMode.Active && now >= lastValid + timers.Silence))
            {
                FallBack(now, act);
                return true;
            }
            return false;
        }

        void FallBack(TimeSpan now, UdpActions act)
        {
            SetMode(UdpMode.Fallback, act);
            Fallbacks++;
            FlushToStream(act);   // whatever only datagrams carried goes by the stream now
            nextProbe = now + timers.FallbackProbeInterval;
        }

        void SetMode(UdpMode mode, UdpActions act)
        {
            if (Mode == mode)
                return;
            Mode = mode;
            act.ModeChanged = true;
        }

        /// <summary>Writes on the stream every unconfirmed input above the last one it carried, in order.</summary>
        void FlushToStream(UdpActions act)
        {
            foreach (var input in unconfirmed)
            {
                if (input.Seq > lastStreamSeq)
                {
                    act.StreamMessages.Add(input.Message);
                    lastStreamSeq = input.Seq;
                }
            }
        }

        bool UnconfirmedFit()
        {
            int size = 0;
            foreach (var input in unconfirmed)
            {
                size += input.Frame.Length;
                if (size > Datagram.InputBudget)
                    return false;
            }
            return true;
        }

        /// <summary>A probe: not active, a ping (and the echo of the newest challenge, as every datagram).</summary>
        void Probe(TimeSpan now, UdpActions act)
        {
            Emit(new ClientDatagram { Ping = NextPing(now), Received = Received, Response = challenge }, now, act);
        }

        /// <summary>An active datagram: received, the challenge's echo, a ping when due, the oldest inputs.</summary>
        void Send(TimeSpan now, UdpActions act)
        {
            var d = new ClientDatagram { Active = true, Received = Received, Response = challenge };
            if (now >= lastPing + timers.PingInterval)
                d.Ping = NextPing(now);
            Emit(d, now, act);
        }

        ulong NextPing(TimeSpan now)
        {
            ulong nonce = nextNonce++;
            pings.Enqueue(new KeyValuePair<ulong, TimeSpan>(nonce, now));
            while (pings.Count > PingsRemembered)
                pings.Dequeue();
            lastPing = now;
            return nonce;
        }

        void OnPong(ulong nonce, TimeSpan now)
        {
            foreach (var ping in pings)
            {
                if (ping.Key == nonce)
                {
                    Rtt = now - ping.Value;
                    return;
                }
            }
        }

        /// <summary>Adds the oldest unconfirmed inputs that fit, numbers, signs and queues the datagram.</summary>
        void Emit(ClientDatagram d, TimeSpan now, UdpActions act)
        {
            if (Mode == UdpMode.Closed)
                return;
            if (lastSentSeq == uint.MaxValue)
            {
                // datagram 0xffffffff went out: no more on this session, the stream carries everything
                SetMode(UdpMode.Closed, act);
                FlushToStream(act);
                return;
            }
            int room = Datagram.MaxSize - Datagram.HeaderSize - Datagram.MacSize - 1 - Varint.Size(d.Received)
                - (d.Response != null ? Datagram.ChallengeSize : 0) - (d.Ping.HasValue ? Varint.Size(d.Ping.Value) : 0);
            foreach (var input in unconfirmed)
            {
                if (input.Frame.Length > room)
                    break;   // never a later input without every earlier one
                d.InputFrames.Add(input.Frame);
                room -= input.Frame.Length;
            }
            d.Seq = ++lastSentSeq;
            var bytes = Datagram.EncodeClient(sessionId, key, d);
            act.Datagrams.Add(bytes);
            DatagramsSent++;
            BytesSent += bytes.Length;
            lastSent = now;
        }

        static TimeSpan Min(TimeSpan a, TimeSpan b)
        {
            return a < b ? a : b;
        }
    }
}
