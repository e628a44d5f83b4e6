// TCP framing: every message is preceded by its length as a base-128 varint
// (protobuf's "delimited" format). No delimiter byte exists, so any byte value
// may appear in a payload; a read may hold half a frame or several.
using System;
using System.Collections.Generic;

namespace Tickcast.Protocol
{
    public static class Framing
    {
        /// <summary>A length prefix is a 32-bit varint: at most 5 bytes.</summary>
        public const int MaxPrefixBytes = 5;

        /// <summary>The largest server frame a client accepts by default (a tick of a very busy room).</summary>
        public const int DefaultMaxServerFrame = 64 << 20;

        /// <summary><paramref name="body"/> with its length prefix, ready for the TCP stream.</summary>
        public static byte[] Frame(byte[] body)
        {
            var frame = new byte[Varint.Size((ulong)body.Length) + body.Length];
            int pos = Varint.Write(frame, 0, (ulong)body.Length);
            Buffer.BlockCopy(body, 0, frame, pos, body.Length);
            return frame;
        }
    }

    /// <summary>Splits a TCP byte stream into frame bodies (without their prefixes).</summary>
    /// <remarks>Sans-I/O: feed it whatever a read returned. A prefix longer than 5
    /// bytes, or a length over the limit (refused as soon as its prefix is read,
    /// before any body is buffered), throws <see cref="RemoteProtocolException"/>;
    /// after that the framer must not be fed again.</remarks>
    public sealed class Framer
    {
        readonly int maxFrame;
        byte[] buffer = new byte[0];   // bytes of one incomplete frame: prefix and partial body
        int buffered;

        public Framer(int maxFrame = Framing.DefaultMaxServerFrame)
        {
            if (maxFrame < 0)
                throw new ArgumentOutOfRangeException("maxFrame");
            this.maxFrame = maxFrame;
        }

        /// <summary>Bytes of an incomplete frame held back.</summary>
        public int Buffered { get { return buffered; } }

        /// <summary>Appends every frame body that <paramref name="data"/> completes to <paramref name="frames"/>, in order.</summary>
        public void Feed(byte[] data, int offset, int count, List<byte[]> frames)
        {
            if (buffered > 0)
            {
                // complete the held-back frame first, then go on in `data` itself
                int taken = FillBuffered(data, offset, count, frames);
                offset += taken;
                count -= taken;
                if (buffered > 0)
                    return;
            }
            int pos = offset;
            int end = offset + count;
            while (pos < end)
            {
                int length, prefix;
                if (!TryReadPrefix(data, pos, end, out length, out prefix))
                    break;
                if (end - pos - prefix < length)
                    break;
                var body = new byte[length];
                Buffer.BlockCopy(data, pos + prefix, body, 0, length);
                frames.Add(body);
                pos += prefix + length;
            }
            if (pos < end)
                Hold(data, pos, end - pos);
        }

        /// <summary>Moves bytes from data into the held-back frame until it is complete or data runs out; returns how many it took.</summary>
        int FillBuffered(byte[] data, int offset, int count, List<byte[]> frames)
        {
            int taken = 0;
            int length, prefix;
            // the prefix itself may be incomplete: take one byte at a time until it is not
            while (!TryReadPrefix(buffer, 0, buffered, out length, out prefix))
            {
                if (taken == count)
                    return taken;
                Hold(data, offset + taken, 1);
                taken++;
            }
            int need = prefix + length - buffered;
            int step = Math.Min(need, count - taken);
            Hold(data, offset + taken, step);
            taken += step;
            if (buffered == prefix + length)
            {
                var body = new byte[length];
                Buffer.BlockCopy(buffer, prefix, body, 0, length);
                frames.Add(body);
                buffered = 0;
                if (buffer.Length > 1 << 20)
                    buffer = new byte[0];   // a huge frame passed: do not keep its buffer
            }
            return taken;
        }

        bool TryReadPrefix(byte[] data, int pos, int end, out int length, out int prefix)
        {
            ulong value = 0;
            for (int i = 0; i < Framing.MaxPrefixBytes; i++)
            {
                if (pos + i >= end)
                {
                    length = prefix = 0;
                    return false;
                }
                byte b = data[pos + i];
                value |= (ulong)(b & 0x7F) << (7 * i);
                if (b < 0x80)
                {
                    if (value > (ulong)maxFrame)
                        throw new RemoteProtocolException("a server frame of " + value + " bytes is over the client's limit of " + maxFrame);
                    length = (int)value;
                    prefix = i + 1;
                    return true;
                }
            }
            throw new RemoteProtocolException("frame length varint longer than 5 bytes");
        }

        void Hold(byte[] data, int offset, int count)
        {
            if (buffered + count > buffer.Length)
                Array.Resize(ref buffer, Math.Max(buffered + count, Math.Max(64, buffer.Length * 2)));
            Buffer.BlockCopy(data, offset, buffer, buffered, count);
            buffered += count;
        }
    }
}
