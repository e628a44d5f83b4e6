// The messages of protocol v1 (package tickcast.v1 in tickcast.proto), with
// hand-written canonical encoders and decoders. Field numbers never change.
// Decoders skip unknown fields of every wire type: newer servers add optional
// fields (and enum values), and a v1 client must keep working with them.
using System;
using System.Collections.Generic;

namespace Tickcast.Protocol
{
    /// <summary>A protobuf message: it writes its fields.</summary>
    public interface IMessage
    {
        void WriteTo(ProtoWriter w);
    }

    /// <summary>ClientMessage and ServerMessage: a oneof of messages, each in its own field.</summary>
    public abstract class OneofMessage : IMessage
    {
        IMessage value;
        int field;

        /// <summary>The field number of the message carried (0: none).</summary>
        protected int BodyField { get { return field; } }

        protected T Get<T>(int number) where T : class
        {
            return field == number ? (T)value : null;
        }

        protected void Set(int number, IMessage message)
        {
            value = message;
            field = message == null ? 0 : number;
        }

        /// <summary>The message's protobuf encoding (a TCP frame adds the length prefix: <see cref="Framing.Frame"/>).</summary>
        public byte[] Encode()
        {
            var w = new ProtoWriter();
            WriteTo(w);
            return w.ToArray();
        }

        public void WriteTo(ProtoWriter w)
        {
            if (field == 0)
                return;
            var inner = new ProtoWriter();
            value.WriteTo(inner);
            w.WriteMessageField(field, inner);
        }
    }

    // ------------------------------------------------------------ client -> server

    /// <summary>The first frame of every connection (ClientMessage field 1).</summary>
    public sealed class Hello : IMessage
    {
        public uint ProtocolVersion { get; set; }   // 1
        public string PlayerId { get; set; } = "";  // 1..64 bytes of UTF-8
        public string Token { get; set; } = "";
        public string Room { get; set; } = "";      // "" = the server's default room
        public ulong ResumeAfter { get; set; }      // 0 = fresh join
        public bool FullHistory { get; set; }
        public bool Spectator { get; set; }
        public uint UdpVersion { get; set; }        // 0 = stream only; 1 = asks for a UDP session

        public void WriteTo(ProtoWriter w)
        {
            w.WriteUInt32Field(1, ProtocolVersion);
            w.WriteStringField(2, PlayerId);
            w.WriteStringField(3, Token);
            w.WriteStringField(4, Room);
            w.WriteUInt64Field(5, ResumeAfter);
            w.WriteBoolField(6, FullHistory);
            w.WriteBoolField(7, Spectator);
            w.WriteUInt32Field(8, UdpVersion);
        }

        public static Hello Parse(ProtoReader r)
        {
            var m = new Hello();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.Varint) m.ProtocolVersion = r.ReadUInt32();
                else if (field == 2 && type == WireType.LengthDelimited) m.PlayerId = r.ReadString();
                else if (field == 3 && type == WireType.LengthDelimited) m.Token = r.ReadString();
                else if (field == 4 && type == WireType.LengthDelimited) m.Room = r.ReadString();
                else if (field == 5 && type == WireType.Varint) m.ResumeAfter = r.ReadVarint();
                else if (field == 6 && type == WireType.Varint) m.FullHistory = r.ReadBool();
                else if (field == 7 && type == WireType.Varint) m.Spectator = r.ReadBool();
                else if (field == 8 && type == WireType.Varint) m.UdpVersion = r.ReadUInt32();
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>One input of the player (ClientMessage field 2).</summary>
    public sealed class Input : IMessage
    {
        public uint Seq { get; set; }
        public byte[] Payload { get; set; } = new byte[0];

        public void WriteTo(ProtoWriter w)
        {
            w.WriteUInt32Field(1, Seq);
            w.WriteBytesField(2, Payload);
        }

        public static Input Parse(ProtoReader r)
        {
            var m = new Input();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.Varint) m.Seq = r.ReadUInt32();
                else if (field == 2 && type == WireType.LengthDelimited) m.Payload = r.ReadBytes();
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>Ping (ClientMessage field 3); the server answers Pong with the same nonce.</summary>
    public sealed class Ping : IMessage
    {
        public ulong Nonce { get; set; }

        public void WriteTo(ProtoWriter w)
        {
            w.WriteUInt64Field(1, Nonce);
        }

        public static Ping Parse(ProtoReader r)
        {
            var m = new Ping();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.Varint) m.Nonce = r.ReadVarint();
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>The highest tick fully processed (ClientMessage field 4, optional).</summary>
    public sealed class Ack : IMessage
    {
        public ulong Tick { get; set; }

        public void WriteTo(ProtoWriter w)
        {
            w.WriteUInt64Field(1, Tick);
        }

        public static Ack Parse(ProtoReader r)
        {
            var m = new Ack();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.Varint) m.Tick = r.ReadVarint();
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>Leave the room now (ClientMessage field 5).</summary>
    public sealed class Leave : IMessage
    {
        public void WriteTo(ProtoWriter w)
        {
        }

        public static Leave Parse(ProtoReader r)
        {
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
                r.SkipField(field, type);
            return new Leave();
        }
    }

    /// <summary>The client's hash of its simulation state after tick <see cref="Tick"/> (ClientMessage field 6).</summary>
    public sealed class StateHash : IMessage
    {
        public ulong Tick { get; set; }
        public byte[] Hash { get; set; } = new byte[0];

        public void WriteTo(ProtoWriter w)
        {
            w.WriteUInt64Field(1, Tick);
            w.WriteBytesField(2, Hash);
        }

        public static StateHash Parse(ProtoReader r)
        {
            var m = new StateHash();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.Varint) m.Tick = r.ReadVarint();
                else if (field == 2 && type == WireType.LengthDelimited) m.Hash = r.ReadBytes();
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>Which message a <see cref="ClientMessage"/> carries (its field number).</summary>
    public enum ClientBody
    {
        None = 0,
        Hello = 1,
        Input = 2,
        Ping = 3,
        Ack = 4,
        Leave = 5,
        StateHash = 6,
    }

    /// <summary>Every client-to-server frame: a oneof of the messages above.</summary>
    public sealed class ClientMessage : OneofMessage
    {
        public ClientBody Body { get { return (ClientBody)BodyField; } }

        public Hello Hello { get { return Get<Hello>((int)ClientBody.Hello); } set { Set((int)ClientBody.Hello, value); } }
        public Input Input { get { return Get<Input>((int)ClientBody.Input); } set { Set((int)ClientBody.Input, value); } }
        public Ping Ping { get { return Get<Ping>((int)ClientBody.Ping); } set { Set((int)ClientBody.Ping, value); } }
        public Ack Ack { get { return Get<Ack>((int)ClientBody.Ack); } set { Set((int)ClientBody.Ack, value); } }
        public Leave Leave { get { return Get<Leave>((int)ClientBody.Leave); } set { Set((int)ClientBody.Leave, value); } }
        public StateHash StateHash { get { return Get<StateHash>((int)ClientBody.StateHash); } set { Set((int)ClientBody.StateHash, value); } }

        public static ClientMessage Decode(byte[] data, int offset, int count)
        {
            var r = new ProtoReader(data, offset, count);
            var m = new ClientMessage();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (type != WireType.LengthDelimited || field > 6)
                {
                    r.SkipField(field, type);
                    continue;
                }
                var sub = r.ReadMessage();
                switch (field)
                {
                    case 1: m.Hello = Hello.Parse(sub); break;
                    case 2: m.Input = Input.Parse(sub); break;
                    case 3: m.Ping = Ping.Parse(sub); break;
                    case 4: m.Ack = Ack.Parse(sub); break;
                    case 5: m.Leave = Leave.Parse(sub); break;
                    case 6: m.StateHash = StateHash.Parse(sub); break;
                }
            }
            return m;
        }

        public static ClientMessage Decode(byte[] data)
        {
            return Decode(data, 0, data.Length);
        }
    }

    // ------------------------------------------------------------ server -> client

    /// <summary>A player in a room: its slot and id (Welcome.members, Tick.joined).</summary>
    public sealed class Member : IMessage
    {
        public uint Slot { get; set; }
        public string PlayerId { get; set; } = "";

        public void WriteTo(ProtoWriter w)
        {
            w.WriteUInt32Field(1, Slot);
            w.WriteStringField(2, PlayerId);
        }

        public static Member Parse(ProtoReader r)
        {
            var m = new Member();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.Varint) m.Slot = r.ReadUInt32();
                else if (field == 2 && type == WireType.LengthDelimited) m.PlayerId = r.ReadString();
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>The server's answer to a valid Hello (ServerMessage field 1).</summary>
    public sealed class Welcome : IMessage
    {
        public string Room { get; set; } = "";
        public uint Slot { get; set; }
        public uint TickRate { get; set; }
        public ulong FirstTick { get; set; }
        public List<Member> Members { get; private set; } = new List<Member>();
        public uint LastSeq { get; set; }
        public string ServerId { get; set; } = "";
        /// <summary>The UDP session offered beside this connection; null: stay on the stream.</summary>
        public UdpOffer Udp { get; set; }

        public void WriteTo(ProtoWriter w)
        {
            w.WriteStringField(1, Room);
            w.WriteUInt32Field(2, Slot);
            w.WriteUInt32Field(3, TickRate);
            w.WriteUInt64Field(4, FirstTick);
            w.WriteMessageFields(5, Members);
            w.WriteUInt32Field(6, LastSeq);
            w.WriteStringField(7, ServerId);
            if (Udp != null)
            {
                var inner = new ProtoWriter();
                Udp.WriteTo(inner);
                w.WriteMessageField(8, inner);
            }
        }

        public static Welcome Parse(ProtoReader r)
        {
            var m = new Welcome();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.LengthDelimited) m.Room = r.ReadString();
                else if (field == 2 && type == WireType.Varint) m.Slot = r.ReadUInt32();
                else if (field == 3 && type == WireType.Varint) m.TickRate = r.ReadUInt32();
                else if (field == 4 && type == WireType.Varint) m.FirstTick = r.ReadVarint();
                else if (field == 5 && type == WireType.LengthDelimited) m.Members.Add(Member.Parse(r.ReadMessage()));
                else if (field == 6 && type == WireType.Varint) m.LastSeq = r.ReadUInt32();
                else if (field == 7 && type == WireType.LengthDelimited) m.ServerId = r.ReadString();
                else if (field == 8 && type == WireType.LengthDelimited) m.Udp = UdpOffer.Parse(r.ReadMessage());
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>A UDP session beside one stream connection (Welcome field 8); it lives as long as that connection.</summary>
    public sealed class UdpOffer : IMessage
    {
        /// <summary>The datagram version the server uses (at most Hello.udp_version).</summary>
        public uint Version { get; set; }
        /// <summary>The UDP port to send datagrams to.</summary>
        public uint Port { get; set; }
        /// <summary>The host to send them to; "" = the address the stream is connected to.</summary>
        public string Host { get; set; } = "";
        /// <summary>8 bytes, copied into the header of every datagram.</summary>
        public byte[] SessionId { get; set; } = new byte[0];
        /// <summary>32 bytes: the HMAC-SHA256 key of both directions.</summary>
        public byte[] Key { get; set; } = new byte[0];

        public void WriteTo(ProtoWriter w)
        {
            w.WriteUInt32Field(1, Version);
            w.WriteUInt32Field(2, Port);
            w.WriteStringField(3, Host);
            w.WriteBytesField(4, SessionId);
            w.WriteBytesField(5, Key);
        }

        public static UdpOffer Parse(ProtoReader r)
        {
            var m = new UdpOffer();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.Varint) m.Version = r.ReadUInt32();
                else if (field == 2 && type == WireType.Varint) m.Port = r.ReadUInt32();
                else if (field == 3 && type == WireType.LengthDelimited) m.Host = r.ReadString();
                else if (field == 4 && type == WireType.LengthDelimited) m.SessionId = r.ReadBytes();
                else if (field == 5 && type == WireType.LengthDelimited) m.Key = r.ReadBytes();
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>One sequenced input as every member receives it (Tick.inputs).</summary>
    public sealed class RelayedInput : IMessage
    {
        public uint Slot { get; set; }
        public uint Seq { get; set; }
        public byte[] Payload { get; set; } = new byte[0];

        public void WriteTo(ProtoWriter w)
        {
            w.WriteUInt32Field(1, Slot);
            w.WriteUInt32Field(2, Seq);
            w.WriteBytesField(3, Payload);
        }

        public static RelayedInput Parse(ProtoReader r)
        {
            var m = new RelayedInput();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.Varint) m.Slot = r.ReadUInt32();
                else if (field == 2 && type == WireType.Varint) m.Seq = r.ReadUInt32();
                else if (field == 3 && type == WireType.LengthDelimited) m.Payload = r.ReadBytes();
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>At tick <see cref="Tick"/> the members in <see cref="Slots"/> reported a state hash unlike the majority's.</summary>
    public sealed class Desync : IMessage
    {
        public ulong Tick { get; set; }
        public List<uint> Slots { get; private set; } = new List<uint>();

        public void WriteTo(ProtoWriter w)
        {
            w.WriteUInt64Field(1, Tick);
            w.WritePackedUInt32Field(2, Slots);
        }

        public static Desync Parse(ProtoReader r)
        {
            var m = new Desync();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.Varint) m.Tick = r.ReadVarint();
                else if (field == 2) r.ReadRepeatedUInt32(field, type, m.Slots);
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>One tick of a room (ServerMessage field 2): identical bytes for every member.</summary>
    public sealed class Tick : IMessage
    {
        public ulong Number { get; set; }
        public List<RelayedInput> Inputs { get; private set; } = new List<RelayedInput>();
        public List<Member> Joined { get; private set; } = new List<Member>();
        public List<uint> Left { get; private set; } = new List<uint>();
        public byte[] Chain { get; set; } = new byte[0];
        public List<Desync> Desyncs { get; private set; } = new List<Desync>();

        public void WriteTo(ProtoWriter w)
        {
            w.WriteUInt64Field(1, Number);
            w.WriteMessageFields(2, Inputs);
            w.WriteMessageFields(3, Joined);
            w.WritePackedUInt32Field(4, Left);
            w.WriteBytesField(5, Chain);
            w.WriteMessageFields(6, Desyncs);
        }

        public byte[] Encode()
        {
            var w = new ProtoWriter();
            WriteTo(w);
            return w.ToArray();
        }

        public static Tick Parse(ProtoReader r)
        {
            var m = new Tick();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.Varint) m.Number = r.ReadVarint();
                else if (field == 2 && type == WireType.LengthDelimited) m.Inputs.Add(RelayedInput.Parse(r.ReadMessage()));
                else if (field == 3 && type == WireType.LengthDelimited) m.Joined.Add(Member.Parse(r.ReadMessage()));
                else if (field == 4) r.ReadRepeatedUInt32(field, type, m.Left);
                else if (field == 5 && type == WireType.LengthDelimited) m.Chain = r.ReadBytes();
                else if (field == 6 && type == WireType.LengthDelimited) m.Desyncs.Add(Desync.Parse(r.ReadMessage()));
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>The answer to a Ping (ServerMessage field 3).</summary>
    public sealed class Pong : IMessage
    {
        public ulong Nonce { get; set; }
        public ulong Tick { get; set; }

        public void WriteTo(ProtoWriter w)
        {
            w.WriteUInt64Field(1, Nonce);
            w.WriteUInt64Field(2, Tick);
        }

        public static Pong Parse(ProtoReader r)
        {
            var m = new Pong();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.Varint) m.Nonce = r.ReadVarint();
                else if (field == 2 && type == WireType.Varint) m.Tick = r.ReadVarint();
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>The last frame of a connection (ServerMessage field 4); the server closes it right after.</summary>
    public sealed class Kick : IMessage
    {
        /// <summary>A <see cref="KickReason"/>; a newer server may send values this client does not know.</summary>
        public KickReason Reason { get; set; }
        public string Detail { get; set; } = "";
        /// <summary>With <see cref="KickReason.Redirect"/>: "host:port" of the node to connect to.</summary>
        public string Redirect { get; set; } = "";

        public void WriteTo(ProtoWriter w)
        {
            w.WriteEnumField(1, (int)Reason);
            w.WriteStringField(2, Detail);
            w.WriteStringField(3, Redirect);
        }

        public static Kick Parse(ProtoReader r)
        {
            var m = new Kick();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (field == 1 && type == WireType.Varint) m.Reason = (KickReason)r.ReadInt32();
                else if (field == 2 && type == WireType.LengthDelimited) m.Detail = r.ReadString();
                else if (field == 3 && type == WireType.LengthDelimited) m.Redirect = r.ReadString();
                else r.SkipField(field, type);
            }
            return m;
        }
    }

    /// <summary>Which message a <see cref="ServerMessage"/> carries (its field number).</summary>
    public enum ServerBody
    {
        None = 0,
        Welcome = 1,
        Tick = 2,
        Pong = 3,
        Kick = 4,
    }

    /// <summary>Every server-to-client frame: a oneof of Welcome, Tick, Pong and Kick.</summary>
    public sealed class ServerMessage : OneofMessage
    {
        public ServerBody Body { get { return (ServerBody)BodyField; } }

        public Welcome Welcome { get { return Get<Welcome>((int)ServerBody.Welcome); } set { Set((int)ServerBody.Welcome, value); } }
        public Tick Tick { get { return Get<Tick>((int)ServerBody.Tick); } set { Set((int)ServerBody.Tick, value); } }
        public Pong Pong { get { return Get<Pong>((int)ServerBody.Pong); } set { Set((int)ServerBody.Pong, value); } }
        public Kick Kick { get { return Get<Kick>((int)ServerBody.Kick); } set { Set((int)ServerBody.Kick, value); } }

        /// <summary>After <see cref="Decode(byte[], int, int)"/> of a tick: the encoded Tick as received
        /// (the bytes of ServerMessage field 2, which the chain hashes and which are the same for every member).</summary>
        public ArraySegment<byte> TickBytes { get; private set; }

        /// <summary>Decodes one frame body (without the length prefix). Unknown fields are skipped;
        /// a frame with none of the four messages has <see cref="Body"/> None (a newer server's message).</summary>
        public static ServerMessage Decode(byte[] data, int offset, int count)
        {
            var r = new ProtoReader(data, offset, count);
            var m = new ServerMessage();
            int field;
            WireType type;
            while (r.TryReadTag(out field, out type))
            {
                if (type != WireType.LengthDelimited || field > 4)
                {
                    r.SkipField(field, type);
                    continue;
                }
                var bytes = r.ReadLengthDelimited();
                var sub = new ProtoReader(bytes);
                switch (field)
                {
                    case 1: m.Welcome = Welcome.Parse(sub); break;
                    case 2: m.Tick = Tick.Parse(sub); m.TickBytes = bytes; break;
                    case 3: m.Pong = Pong.Parse(sub); break;
                    case 4: m.Kick = Kick.Parse(sub); break;
                }
            }
            return m;
        }

        public static ServerMessage Decode(byte[] data)
        {
            return Decode(data, 0, data.Length);
        }
    }
}
