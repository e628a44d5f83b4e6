// What the game sees: ticks, inputs, members and desync reports as immutable
// objects (the protobuf messages stay in Tickcast.Protocol).
using System.Collections.Generic;

namespace Tickcast
{
    /// <summary>A player in a room: its slot (stable for the room's lifetime) and id.</summary>
    public sealed class Member
    {
        public Member(uint slot, string playerId)
        {
            Slot = slot;
            PlayerId = playerId ?? "";
        }

        public uint Slot { get; private set; }
        public string PlayerId { get; private set; }

        public override string ToString()
        {
            return Slot + ":" + PlayerId;
        }
    }

    /// <summary>One sequenced input, as every member of the room receives it.</summary>
    public sealed class TickInput
    {
        public TickInput(uint slot, uint seq, byte[] payload, string playerId)
        {
            Slot = slot;
            Seq = seq;
            Payload = payload;
            PlayerId = playerId ?? "";
        }

        public uint Slot { get; private set; }
        public uint Seq { get; private set; }

        /// <summary>The input's bytes, opaque to the server (do not modify the array).</summary>
        public byte[] Payload { get; private set; }

        /// <summary>The sender's id (from presence); "" if this client never saw that slot join.</summary>
        public string PlayerId { get; private set; }
    }

    /// <summary>At tick <see cref="Tick"/> the members in <see cref="Slots"/> reported a state hash unlike the majority's.</summary>
    public sealed class Desync
    {
        public Desync(ulong tick, IReadOnlyList<uint> slots)
        {
            Tick = tick;
            Slots = slots;
        }

        public ulong Tick { get; private set; }
        public IReadOnlyList<uint> Slots { get; private set; }
    }

    /// <summary>One tick of the room's lockstep clock: the same for every member.</summary>
    /// <remarks>Apply it in this order: <see cref="Joined"/> (their inputs may already be
    /// in this tick), then <see cref="Inputs"/> in sequencing order, then <see cref="Left"/>.</remarks>
    public sealed class Tick
    {
        static readonly TickInput[] NoInputs = new TickInput[0];
        static readonly Member[] NoMembers = new Member[0];
        static readonly Desync[] NoDesyncs = new Desync[0];
        static readonly byte[] NoBytes = new byte[0];

        public Tick(ulong number, IReadOnlyList<TickInput> inputs, IReadOnlyList<Member> joined,
            IReadOnlyList<Member> left, IReadOnlyList<Desync> desyncs, byte[] chain, byte[] raw)
        {
            Number = number;
            Inputs = inputs ?? NoInputs;
            Joined = joined ?? NoMembers;
            Left = left ?? NoMembers;
            Desyncs = desyncs ?? NoDesyncs;
            Chain = chain ?? NoBytes;
            Raw = raw ?? NoBytes;
        }

        /// <summary>1, 2, 3, ...: use it, not wall-clock time, as the game's clock.</summary>
        public ulong Number { get; private set; }
        public IReadOnlyList<TickInput> Inputs { get; private set; }
        public IReadOnlyList<Member> Joined { get; private set; }
        public IReadOnlyList<Member> Left { get; private set; }
        public IReadOnlyList<Desync> Desyncs { get; private set; }

        /// <summary>BLAKE2b-256 hash chain over the room's ticks, if the server records it (else empty).</summary>
        public byte[] Chain { get; private set; }

        /// <summary>The tick's protobuf encoding as received: byte-identical for every member.</summary>
        public byte[] Raw { get; private set; }

        /// <summary>No inputs, no presence change and no desync report.</summary>
        public bool IsEmpty
        {
            get { return Inputs.Count == 0 && Joined.Count == 0 && Left.Count == 0 && Desyncs.Count == 0; }
        }

        /// <summary>An empty tick <paramref name="number"/> (one the server skipped), raw = <c>Tick{number}</c>.</summary>
        public static Tick Empty(ulong number)
        {
            return new Tick(number, null, null, null, null, null, new Protocol.Tick { Number = number }.Encode());
        }
    }
}
