// The sans-I/O core of a client: no sockets, no threads, no clock. It builds the
// Hello of the next connection, numbers inputs and keeps them until they are seen
// sequenced, turns Welcome and Tick messages into typed ticks exactly once and in
// order, and keeps what must survive a reconnect (the resume point, the
// unconfirmed inputs, the slot names). The connection layer (TickcastClient)
// drives it; tests drive it with bytes.
using System;
using System.Collections.Generic;
using System.Text;
using Tickcast.Protocol;

namespace Tickcast
{
    /// <summary>An input sent and not yet seen sequenced: its seq, payload and ClientMessage.</summary>
    public sealed class PendingInput
    {
        public PendingInput(uint seq, byte[] payload, byte[] message)
        {
            Seq = seq;
            Payload = payload;
            Message = message;
            Frame = Framing.Frame(message);
        }

        public uint Seq { get; private set; }
        public byte[] Payload { get; private set; }

        /// <summary>The <c>ClientMessage{input}</c> (unframed).</summary>
        public byte[] Message { get; private set; }

        /// <summary>The same with its varint length prefix: the stream frame, and a datagram's input frame.</summary>
        public byte[] Frame { get; private set; }
    }

    /// <summary>Sans-I/O state of one logical client across all of its connections.</summary>
    /// <remarks>
    /// Invariants:
    /// <list type="bullet">
    /// <item><see cref="Received"/> is the newest tick handed to the game; every tick after the
    /// client's first one was handed over exactly once, in order. It is the resume point.</item>
    /// <item>The unconfirmed inputs are every input the game sent that has not been seen
    /// sequenced yet, in seq order; after a reconnect those above <c>Welcome.last_seq</c> are
    /// sent again (the server drops a seq it already has, so a resend is harmless).</item>
    /// <item>Slot names are never stale: a room never reuses a slot.</item>
    /// </list>
    /// Not thread-safe: the connection layer calls it under one lock.
    /// </remarks>
    public sealed class ClientCore
    {
        /// <summary>The protocol version this client speaks.</summary>
        public const uint Version = 1;

        /// <summary>The spec's limit on player ids and room names, in bytes of UTF-8.</summary>
        public const int MaxNameBytes = 64;

        readonly Queue<PendingInput> unacked = new Queue<PendingInput>();
        readonly Dictionary<uint, string> names = new Dictionary<uint, string>();
        readonly List<Member> initialMembers = new List<Member>();

        public ClientCore(string playerId, string room = "", string token = "", bool spectator = false,
            bool fullHistory = false, bool skipEmptyTicks = false)
        {
            if (string.IsNullOrEmpty(playerId))
                throw new ArgumentException("a player id is 1 to 64 bytes of UTF-8", "playerId");
            if (Encoding.UTF8.GetByteCount(playerId) > MaxNameBytes)
                throw new ArgumentException("a player id is at most 64 bytes of UTF-8", "playerId");
            if (Encoding.UTF8.GetByteCount(room ?? "") > MaxNameBytes)
                throw new ArgumentException("a room name is at most 64 bytes of UTF-8", "room");
            PlayerId = playerId;
            Room = room ?? "";
            Token = token ?? "";
            Spectator = spectator;
            FullHistory = fullHistory;
            SkipEmptyTicks = skipEmptyTicks;
            ProtocolVersion = Version;
            NextSeq = 1;
        }

        public string PlayerId { get; private set; }

        /// <summary>The room asked for; after a Welcome, the room's name as the server reported it.</summary>
        public string Room { get; private set; }

        /// <summary>The token sent in every Hello (settable: a game may fetch a fresh one before a reconnect).</summary>
        public string Token { get; set; }

        public bool Spectator { get; private set; }
        public bool FullHistory { get; private set; }
        public bool SkipEmptyTicks { get; private set; }

        /// <summary>Hello.protocol_version; 1, and only a test sets anything else.</summary>
        public uint ProtocolVersion { get; set; }

        /// <summary>Hello.udp_version: 0 (stream only), or 1 to ask for a UDP session beside every connection.</summary>
        public uint UdpVersion { get; set; }

        /// <summary>A Welcome has been received (on any connection).</summary>
        public bool Welcomed { get; private set; }

        public uint Slot { get; private set; }
        public uint TickRate { get; private set; }
        public string ServerId { get; private set; }

        /// <summary>The number of the first tick this client receives (1 with full history).</summary>
        public ulong FirstTick { get; private set; }

        /// <summary>The members of the room before <see cref="FirstTick"/> (from the first Welcome).</summary>
        public IReadOnlyList<Member> InitialMembers { get { return initialMembers; } }

        /// <summary>The newest tick handed over (the resume point); 0 before the first.</summary>
        public ulong Received { get; private set; }

        /// <summary>The seq of the next input.</summary>
        public uint NextSeq { get; private set; }

        /// <summary>Inputs sent and not yet seen sequenced in a tick.</summary>
        public int PendingInputs { get { return unacked.Count; } }

        /// <summary>Those inputs, oldest first (the UDP path puts the oldest of them in every datagram).</summary>
        public IEnumerable<PendingInput> Unconfirmed { get { return unacked; } }

        /// <summary>Ticks received a second time and dropped (a resume overlaps nothing, so this stays 0 with a correct server).</summary>
        public int DuplicateTicks { get; private set; }

        /// <summary>Inputs sent again after reconnects (the server had not sequenced them), in all.</summary>
        public int ResentInputs { get; private set; }

        // ------------------------------------------------------------ to the server

        /// <summary>The Hello of the next connection (a ClientMessage, unframed):
        /// a fresh join first, then resumes after the last tick received.</summary>
        public byte[] HelloMessage()
        {
            var hello = new Hello
            {
                ProtocolVersion = ProtocolVersion,
                PlayerId = PlayerId,
                Token = Token,
                Room = Room,
                Spectator = Spectator,
                UdpVersion = UdpVersion,
            };
            if (!Welcomed)
                hello.FullHistory = FullHistory;
            else if (Received > 0)
                hello.ResumeAfter = Received;
            else
                // welcomed at tick 1 of a new room but dropped before it came:
                // "every tick since the room began" is exactly what is missing
                hello.FullHistory = true;
            return new ClientMessage { Hello = hello }.Encode();
        }

        /// <summary>Numbers a new input and keeps it until it is seen sequenced; returns its seq
        /// and, in <paramref name="message"/>, the ClientMessage to send.</summary>
        public uint NextInput(byte[] payload, out byte[] message)
        {
            if (Spectator)
                throw new TickcastException("spectators send no inputs");
            if (payload == null)
                throw new ArgumentNullException("payload");
            uint seq = NextSeq;
            NextSeq = seq + 1;
            var copy = (byte[])payload.Clone();   // the game may reuse its buffer
            message = InputMessage(seq, copy);
            unacked.Enqueue(new PendingInput(seq, copy, message));
            return seq;
        }

        public static byte[] InputMessage(uint seq, byte[] payload)
        {
            return new ClientMessage { Input = new Input { Seq = seq, Payload = payload } }.Encode();
        }

        public static byte[] PingMessage(ulong nonce)
        {
            return new ClientMessage { Ping = new Ping { Nonce = nonce } }.Encode();
        }

        public static byte[] AckMessage(ulong tick)
        {
            return new ClientMessage { Ack = new Ack { Tick = tick } }.Encode();
        }

        public static byte[] LeaveMessage()
        {
            return new ClientMessage { Leave = new Leave() }.Encode();
        }

        public static byte[] StateHashMessage(ulong tick, byte[] hash)
        {
            return new ClientMessage { StateHash = new StateHash { Tick = tick, Hash = hash ?? new byte[0] } }.Encode();
        }

        // ------------------------------------------------------------ from the server

        /// <summary>Takes a Welcome; returns the input messages to send again (seq above last_seq), in order.</summary>
        public List<byte[]> OnWelcome(Welcome welcome)
        {
            bool resume = Welcomed;
            if (!Welcomed)
            {
                FirstTick = welcome.FirstTick;
                Received = welcome.FirstTick == 0 ? 0 : welcome.FirstTick - 1;
                foreach (var m in welcome.Members)
                {
                    initialMembers.Add(new Member(m.Slot, m.PlayerId));
                    names[m.Slot] = m.PlayerId;
                }
            }
            else if (welcome.FirstTick != Received + 1)
            {
                throw new RemoteProtocolException("resume after tick " + Received + " got first_tick " + welcome.FirstTick);
            }
            Welcomed = true;
            Slot = welcome.Slot;
            TickRate = welcome.TickRate;
            ServerId = welcome.ServerId;
            Room = welcome.Room;
            uint lastSeq = welcome.LastSeq;
            if (lastSeq >= NextSeq)
                NextSeq = lastSeq + 1;   // our seqs must stay above what was sequenced
            while (unacked.Count > 0 && unacked.Peek().Seq <= lastSeq)
                unacked.Dequeue();
            var resend = new List<byte[]>(unacked.Count);
            foreach (var entry in unacked)
                resend.Add(entry.Message);
            if (resume)
                ResentInputs += resend.Count;   // (inputs sent before the first Welcome go out now for the first time)
            return resend;
        }

        /// <summary>Turns one received Tick into the typed ticks the game gets next: none for a
        /// tick already handed over (counted in <see cref="DuplicateTicks"/>), empty ticks first for
        /// skipped numbers when <see cref="SkipEmptyTicks"/>, else a gap throws <see cref="TickGapException"/>.
        /// <c>raw</c> is the encoded Tick as received (ServerMessage field 2).</summary>
        public List<Tick> OnTick(Protocol.Tick tick, ArraySegment<byte> raw)
        {
            var output = new List<Tick>(1);
            ulong n = tick.Number;
            if (n <= Received)
            {
                DuplicateTicks++;
                return output;
            }
            if (n != Received + 1)
            {
                if (!SkipEmptyTicks)
                    throw new TickGapException(Received + 1, n);
                for (ulong k = Received + 1; k < n; k++)
                    output.Add(Tick.Empty(k));
            }
            Member[] joined = null;
            if (tick.Joined.Count > 0)
            {
                joined = new Member[tick.Joined.Count];
                for (int i = 0; i < joined.Length; i++)
                {
                    var m = tick.Joined[i];
                    joined[i] = new Member(m.Slot, m.PlayerId);
                    names[m.Slot] = m.PlayerId;
                }
            }
            TickInput[] inputs = null;
            if (tick.Inputs.Count > 0)
            {
                inputs = new TickInput[tick.Inputs.Count];
                uint top = 0;
                bool mine = false;
                for (int i = 0; i < inputs.Length; i++)
                {
                    var input = tick.Inputs[i];
                    inputs[i] = new TickInput(input.Slot, input.Seq, input.Payload, NameOf(input.Slot));
                    if (input.Slot == Slot && !Spectator)
                    {
                        mine = true;
                        top = input.Seq;
                    }
                }
                if (mine)
                    while (unacked.Count > 0 && unacked.Peek().Seq <= top)
                        unacked.Dequeue();
            }
            Member[] left = null;
            if (tick.Left.Count > 0)
            {
                left = new Member[tick.Left.Count];
                for (int i = 0; i < left.Length; i++)
                    left[i] = new Member(tick.Left[i], NameOf(tick.Left[i]));
            }
            Desync[] desyncs = null;
            if (tick.Desyncs.Count > 0)
            {
                desyncs = new Desync[tick.Desyncs.Count];
                for (int i = 0; i < desyncs.Length; i++)
                    desyncs[i] = new Desync(tick.Desyncs[i].Tick, tick.Desyncs[i].Slots.ToArray());
            }
            var copy = new byte[raw.Count];
            Buffer.BlockCopy(raw.Array, raw.Offset, copy, 0, raw.Count);
            output.Add(new Tick(n, inputs, joined, left, desyncs, tick.Chain, copy));
            Received = n;
            return output;
        }

        /// <summary>Every number after <see cref="Received"/> up to <paramref name="upTo"/> as empty ticks:
        /// a UDP datagram covered them without a frame, so the room skipped them. Without
        /// <see cref="SkipEmptyTicks"/> that is a gap, as on the stream.</summary>
        public List<Tick> OnSkipped(ulong upTo)
        {
            var output = new List<Tick>();
            if (upTo <= Received)
                return output;
            if (!SkipEmptyTicks)
                throw new TickGapException(Received + 1, upTo + 1);
            for (ulong k = Received + 1; k <= upTo; k++)
                output.Add(Tick.Empty(k));
            Received = upTo;
            return output;
        }

        string NameOf(uint slot)
        {
            string name;
            return names.TryGetValue(slot, out name) ? name : "";
        }
    }
}
