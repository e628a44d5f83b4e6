// The datagrams of the UDP transport, version 1 (docs/protocol.md, "The datagram,
// byte by byte"): a 13-byte header (kind, session id, big-endian seq), a body,
// and the first 16 bytes of HMAC-SHA256 over both. Both directions are encoded
// and decoded here: the client sends kind 0x11 and receives 0x12; the tests and
// the harness use the other half to play the server.
using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Tickcast.Protocol;

namespace Tickcast.Udp
{
    /// <summary>Why a received datagram was dropped, in the order the checks run (None: it was accepted).</summary>
    public enum DatagramRefusal
    {
        None = 0,
        /// <summary>Shorter than 31 or longer than 1,200 bytes.</summary>
        Size,
        /// <summary>Not the kind byte of this direction and version.</summary>
        Kind,
        /// <summary>Another session's id.</summary>
        Session,
        /// <summary>The MAC is wrong (forged, altered or truncated).</summary>
        Mac,
        /// <summary>The seq was accepted before, or is older than the replay window.</summary>
        Replay,
        /// <summary>Authentic, but the body does not parse exactly as the layout says.</summary>
        Body,
    }

    /// <summary>The key of one UDP session: signs and verifies datagrams (HMAC-SHA256, first 16 bytes).</summary>
    /// <remarks>Not thread-safe (one HMAC instance): use it under the session's lock.</remarks>
    public sealed class DatagramKey : IDisposable
    {
        readonly HMACSHA256 hmac;

        public DatagramKey(byte[] key)
        {
            if (key == null || key.Length != Datagram.KeySize)
                throw new ArgumentException("a UDP session key is " + Datagram.KeySize + " bytes", "key");
            hmac = new HMACSHA256((byte[])key.Clone());
        }

        /// <summary>Writes the MAC of <c>data[offset .. offset+count)</c> (header and body) right after it.</summary>
        public void Sign(byte[] data, int offset, int count)
        {
            var mac = hmac.ComputeHash(data, offset, count);
            Buffer.BlockCopy(mac, 0, data, offset + count, Datagram.MacSize);
        }

        /// <summary>Whether the last 16 bytes of <c>data[offset .. offset+count)</c> are the MAC of the bytes before them (constant time).</summary>
        public bool Verify(byte[] data, int offset, int count)
        {
            int signed = count - Datagram.MacSize;
            var mac = hmac.ComputeHash(data, offset, signed);
            return FixedTimeEquals(mac, 0, data, offset + signed, Datagram.MacSize);
        }

        /// <summary>Compares without an early exit, so the time taken says nothing about where the
        /// bytes differ (CryptographicOperations.FixedTimeEquals is not in .NET Standard 2.0).</summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.NoOptimization)]
        static bool FixedTimeEquals(byte[] a, int aOffset, byte[] b, int bOffset, int count)
        {
            int diff = 0;
            for (int i = 0; i < count; i++)
                diff |= a[aOffset + i] ^ b[bOffset + i];
            return diff == 0;
        }

        public void Dispose()
        {
            hmac.Dispose();
        }
    }

    /// <summary>One tick frame of a server datagram: the stream frame's body, decoded.</summary>
    public sealed class TickFrame
    {
        public TickFrame(ulong number, ServerMessage message, byte[] body)
        {
            Number = number;
            Message = message;
            Body = body;
        }

        public ulong Number { get; private set; }

        /// <summary>The <c>ServerMessage{tick}</c>, decoded (its TickBytes are the tick's bytes as received).</summary>
        public ServerMessage Message { get; private set; }

        /// <summary>The frame's body as received (the frame without its length prefix).</summary>
        public byte[] Body { get; private set; }
    }

    /// <summary>A server-to-client datagram (kind 0x12).</summary>
    public sealed class ServerDatagram
    {
        public uint Seq { get; set; }

        /// <summary>The newest tick number the server has produced for this client.</summary>
        public ulong Newest { get; set; }

        /// <summary>The datagram covers <c>Newest - Span + 1 .. Newest</c>; 0: none.</summary>
        public ulong Span { get; set; }

        /// <summary>8 bytes to echo as the client's response, or null.</summary>
        public byte[] Challenge { get; set; }

        /// <summary>The nonce of the client's ping this answers, or null.</summary>
        public ulong? Pong { get; set; }

        /// <summary>Tick frames, newest first (strictly decreasing numbers, all within the covered range).</summary>
        public List<TickFrame> Frames { get; private set; } = new List<TickFrame>();

        /// <summary>The first covered number (meaningful when <see cref="Span"/> &gt; 0).</summary>
        public ulong First { get { return Newest - Span + 1; } }
    }

    /// <summary>A client-to-server datagram (kind 0x11).</summary>
    public sealed class ClientDatagram
    {
        public uint Seq { get; set; }

        /// <summary>The client receives the server's datagrams: send ticks this way.</summary>
        public bool Active { get; set; }

        /// <summary>The client has every tick up to this number.</summary>
        public ulong Received { get; set; }

        /// <summary>The challenge echoed (8 bytes), or null.</summary>
        public byte[] Response { get; set; }

        /// <summary>A nonce for the server to return as its pong, or null.</summary>
        public ulong? Ping { get; set; }

        /// <summary>Input frames, oldest first: each a varint length and a <c>ClientMessage{input}</c>.</summary>
        public List<byte[]> InputFrames { get; private set; } = new List<byte[]>();

        /// <summary>After decoding: the inputs of <see cref="InputFrames"/>.</summary>
        public List<Input> Inputs { get; private set; } = new List<Input>();
    }

    /// <summary>Encodes and decodes UDP datagrams (docs/protocol.md, "The UDP transport").</summary>
    public static class Datagram
    {
        /// <summary>This datagram version (UdpOffer.version and the high nibble of the kind byte).</summary>
        public const uint Version = 1;

        public const byte KindClient = 0x11;
        public const byte KindServer = 0x12;

        /// <summary>No datagram is larger (it fits the smallest IPv6 path MTU).</summary>
        public const int MaxSize = 1200;

        /// <summary>kind (1), session id (8), seq (4).</summary>
        public const int HeaderSize = 13;

        public const int SessionIdSize = 8;
        public const int KeySize = 32;
        public const int MacSize = 16;
        public const int ChallengeSize = 8;

        /// <summary>The smallest datagram: a header, a 2-byte body (flags and one varint), the MAC.</summary>
        public const int MinSize = HeaderSize + 2 + MacSize;

        // client flags
        public const byte FlagResponse = 0x01;
        public const byte FlagPing = 0x02;
        public const byte FlagActive = 0x04;

        // server flags
        public const byte FlagChallenge = 0x01;
        public const byte FlagPong = 0x02;

        /// <summary>The most bytes of input frames a client datagram holds with every optional field at
        /// its largest (10-byte varints for received and the ping, the 8-byte response): 1,142.</summary>
        public const int InputBudget = MaxSize - HeaderSize - MacSize - 1 - Varint.MaxBytes - ChallengeSize - Varint.MaxBytes;

        /// <summary>The same for tick frames in a server datagram (newest, span, challenge, pong): 1,132.</summary>
        public const int TickBudget = MaxSize - HeaderSize - MacSize - 1 - Varint.MaxBytes - Varint.MaxBytes - ChallengeSize - Varint.MaxBytes;

        // ------------------------------------------------------------ encoding

        /// <summary>A client datagram, signed; throws if it would be over 1,200 bytes.</summary>
        public static byte[] EncodeClient(byte[] sessionId, DatagramKey key, ClientDatagram d)
        {
            var w = new ProtoWriter(128);
            WriteHeader(w, KindClient, sessionId, d.Seq);
            byte flags = (byte)((d.Response != null ? FlagResponse : 0) | (d.Ping.HasValue ? FlagPing : 0) | (d.Active ? FlagActive : 0));
            w.WriteRawByte(flags);
            w.WriteVarint(d.Received);
            if (d.Response != null)
            {
                if (d.Response.Length != ChallengeSize)
                    throw new ArgumentException("a response is " + ChallengeSize + " bytes");
                w.WriteRawBytes(d.Response, 0, ChallengeSize);
            }
            if (d.Ping.HasValue)
                w.WriteVarint(d.Ping.Value);
            foreach (var frame in d.InputFrames)
                w.WriteRawBytes(frame, 0, frame.Length);
            return Seal(w, key);
        }

        /// <summary>A server datagram, signed (frames are stream frames, newest first); throws if over 1,200 bytes.</summary>
        public static byte[] EncodeServer(byte[] sessionId, DatagramKey key, uint seq, ulong newest, ulong span,
            byte[] challenge, ulong? pong, IList<byte[]> tickFrames)
        {
            var w = new ProtoWriter(256);
            WriteHeader(w, KindServer, sessionId, seq);
            byte flags = (byte)((challenge != null ? FlagChallenge : 0) | (pong.HasValue ? FlagPong : 0));
            w.WriteRawByte(flags);
            w.WriteVarint(newest);
            w.WriteVarint(span);
            if (challenge != null)
            {
                if (challenge.Length != ChallengeSize)
                    throw new ArgumentException("a challenge is " + ChallengeSize + " bytes");
                w.WriteRawBytes(challenge, 0, ChallengeSize);
            }
            if (pong.HasValue)
                w.WriteVarint(pong.Value);
            if (tickFrames != null)
                foreach (var frame in tickFrames)
                    w.WriteRawBytes(frame, 0, frame.Length);
            return Seal(w, key);
        }

        static void WriteHeader(ProtoWriter w, byte kind, byte[] sessionId, uint seq)
        {
            if (sessionId == null || sessionId.Length != SessionIdSize)
                throw new ArgumentException("a session id is " + SessionIdSize + " bytes", "sessionId");
            w.WriteRawByte(kind);
            w.WriteRawBytes(sessionId, 0, SessionIdSize);
            w.WriteRawByte((byte)(seq >> 24));
            w.WriteRawByte((byte)(seq >> 16));
            w.WriteRawByte((byte)(seq >> 8));
            w.WriteRawByte((byte)seq);
        }

        static byte[] Seal(ProtoWriter w, DatagramKey key)
        {
            int signed = w.Length;
            if (signed + MacSize > MaxSize)
                throw new ArgumentException("a datagram of " + (signed + MacSize) + " bytes is over " + MaxSize);
            var data = new byte[signed + MacSize];
            Buffer.BlockCopy(w.ToArray(), 0, data, 0, signed);
            key.Sign(data, 0, signed);
            return data;
        }

        // ------------------------------------------------------------ decoding

        /// <summary>The seq of a datagram's header (big-endian, bytes 9..12).</summary>
        public static uint SeqOf(byte[] data, int offset)
        {
            return (uint)data[offset + 9] << 24 | (uint)data[offset + 10] << 16 | (uint)data[offset + 11] << 8 | data[offset + 12];
        }

        /// <summary>Checks 1 to 4 of the doc's list: size, kind, session id, MAC.</summary>
        public static DatagramRefusal CheckHeader(byte[] data, int offset, int count, byte kind, byte[] sessionId, DatagramKey key)
        {
            if (count < MinSize || count > MaxSize)
                return DatagramRefusal.Size;
            if (data[offset] != kind)
                return DatagramRefusal.Kind;
            int diff = 0;
            for (int i = 0; i < SessionIdSize; i++)
                diff |= data[offset + 1 + i] ^ sessionId[i];
            if (diff != 0)
                return DatagramRefusal.Session;
            if (!key.Verify(data, offset, count))
                return DatagramRefusal.Mac;
            return DatagramRefusal.None;
        }

        /// <summary>Checks and decodes a server datagram in the doc's order (size, kind, session, MAC,
        /// replay window, body) and, if it passes, records its seq in <paramref name="window"/>.</summary>
        public static DatagramRefusal ReadServer(byte[] data, int offset, int count, byte[] sessionId, DatagramKey key,
            ReplayWindow window, out ServerDatagram datagram)
        {
            datagram = Read(data, offset, count, KindServer, sessionId, key, window, ParseServerBody, out var refusal);
            if (datagram != null)
                datagram.Seq = SeqOf(data, offset);
            return refusal;
        }

        /// <summary>The same for a client datagram (what the server does; for tests and test peers).</summary>
        public static DatagramRefusal ReadClient(byte[] data, int offset, int count, byte[] sessionId, DatagramKey key,
            ReplayWindow window, out ClientDatagram datagram)
        {
            datagram = Read(data, offset, count, KindClient, sessionId, key, window, ParseClientBody, out var refusal);
            if (datagram != null)
                datagram.Seq = SeqOf(data, offset);
            return refusal;
        }

        static T Read<T>(byte[] data, int offset, int count, byte kind, byte[] sessionId, DatagramKey key,
            ReplayWindow window, Func<byte[], int, int, T> parse, out DatagramRefusal refusal) where T : class
        {
            refusal = CheckHeader(data, offset, count, kind, sessionId, key);
            if (refusal != DatagramRefusal.None)
                return null;
            uint seq = SeqOf(data, offset);
            if (!window.Check(seq))
            {
                refusal = DatagramRefusal.Replay;
                return null;
            }
            T body;
            try
            {
                body = parse(data, offset + HeaderSize, count - HeaderSize - MacSize);
            }
            catch (RemoteProtocolException)
            {
                body = null;   // a varint or a frame cut short, a broken message
            }
            if (body == null)
            {
                refusal = DatagramRefusal.Body;
                return null;
            }
            window.Record(seq);
            return body;
        }

        /// <summary>The body of a server datagram, or null if it does not parse exactly.</summary>
        static ServerDatagram ParseServerBody(byte[] data, int offset, int count)
        {
            var r = new ProtoReader(data, offset, count);
            var d = new ServerDatagram();
            byte flags = r.ReadRawByte();
            if ((flags & ~(FlagChallenge | FlagPong)) != 0)
                return null;
            d.Newest = r.ReadVarint();
            d.Span = r.ReadVarint();
            if (d.Span > d.Newest)
                return null;   // it would cover tick 0 or below
            if ((flags & FlagChallenge) != 0)
                d.Challenge = r.ReadRawBytes(ChallengeSize);
            if ((flags & FlagPong) != 0)
                d.Pong = r.ReadVarint();
            ulong below = d.Newest + 1;   // newest first: each frame's number is below the previous one's
            while (!r.Done)
            {
                var body = Copy(r.ReadLengthDelimited());
                var message = ServerMessage.Decode(body);
                if (message.Body != ServerBody.Tick)
                    return null;
                ulong n = message.Tick.Number;
                if (d.Span == 0 || n < d.First || n >= below)
                    return null;
                below = n;
                d.Frames.Add(new TickFrame(n, message, body));
            }
            return d;
        }

        /// <summary>The body of a client datagram, or null if it does not parse exactly.</summary>
        static ClientDatagram ParseClientBody(byte[] data, int offset, int count)
        {
            var r = new ProtoReader(data, offset, count);
            var d = new ClientDatagram();
            byte flags = r.ReadRawByte();
            if ((flags & ~(FlagResponse | FlagPing | FlagActive)) != 0)
                return null;
            d.Active = (flags & FlagActive) != 0;
            d.Received = r.ReadVarint();
            if ((flags & FlagResponse) != 0)
                d.Response = r.ReadRawBytes(ChallengeSize);
            if ((flags & FlagPing) != 0)
                d.Ping = r.ReadVarint();
            while (!r.Done)
            {
                var body = Copy(r.ReadLengthDelimited());
                var message = ClientMessage.Decode(body);
                if (message.Body != ClientBody.Input)
                    return null;
                if (d.Inputs.Count > 0 && message.Input.Seq <= d.Inputs[d.Inputs.Count - 1].Seq)
                    return null;   // oldest first, strictly increasing seq
                d.Inputs.Add(message.Input);
                d.InputFrames.Add(Framing.Frame(body));
            }
            return d;
        }

        static byte[] Copy(ArraySegment<byte> segment)
        {
            var copy = new byte[segment.Count];
            Buffer.BlockCopy(segment.Array, segment.Offset, copy, 0, segment.Count);
            return copy;
        }
    }
}
