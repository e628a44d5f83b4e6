// Protobuf wire format by hand: varints, tags, length-delimited fields, and a
// reader that skips unknown fields of every wire type. The tickcast schema is
// small and fixed, so no protobuf library is needed (none is in Unity, and NuGet
// is not always reachable); the encoders emit canonical protobuf (fields in
// number order, defaults omitted, repeated scalars packed), byte for byte what
// the server's own encoders and Google.Protobuf emit.
using System;
using System.Collections.Generic;
using System.Text;

namespace Tickcast.Protocol
{
    /// <summary>The protobuf wire types (the low 3 bits of a field's key).</summary>
    public enum WireType
    {
        Varint = 0,
        Fixed64 = 1,
        LengthDelimited = 2,
        StartGroup = 3,
        EndGroup = 4,
        Fixed32 = 5,
    }

    /// <summary>Base-128 varints, least significant 7-bit group first.</summary>
    public static class Varint
    {
        /// <summary>The most bytes a 64-bit varint takes.</summary>
        public const int MaxBytes = 10;

        /// <summary>How many bytes <paramref name="value"/> takes as a varint.</summary>
        public static int Size(ulong value)
        {
            int n = 1;
            while (value >= 0x80)
            {
                value >>= 7;
                n++;
            }
            return n;
        }

        /// <summary>Writes <paramref name="value"/> at <paramref name="pos"/>; returns the position after it.</summary>
        public static int Write(byte[] buffer, int pos, ulong value)
        {
            while (value >= 0x80)
            {
                buffer[pos++] = (byte)(value | 0x80);
                value >>= 7;
            }
            buffer[pos++] = (byte)value;
            return pos;
        }
    }

    /// <summary>A growable buffer that protobuf fields are appended to.</summary>
    /// <remarks>The <c>Write…Field</c> methods omit default values (0, false, empty),
    /// as proto3 does; <see cref="WriteMessageField"/> always writes (an empty
    /// message in a oneof or a repeated field is still present).</remarks>
    public sealed class ProtoWriter
    {
        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);
        byte[] buffer;
        int length;

        public ProtoWriter(int capacity = 64)
        {
            buffer = new byte[Math.Max(16, capacity)];
        }

        /// <summary>Bytes written so far.</summary>
        public int Length { get { return length; } }

        /// <summary>The bytes written so far, as a new array.</summary>
        public byte[] ToArray()
        {
            var copy = new byte[length];
            Buffer.BlockCopy(buffer, 0, copy, 0, length);
            return copy;
        }

        /// <summary>Forget what was written (the buffer is kept for reuse).</summary>
        public void Clear()
        {
            length = 0;
        }

        void Reserve(int more)
        {
            if (length + more <= buffer.Length)
                return;
            int size = buffer.Length * 2;
            while (size < length + more)
                size *= 2;
            Array.Resize(ref buffer, size);
        }

        public void WriteRawByte(byte value)
        {
            Reserve(1);
            buffer[length++] = value;
        }

        public void WriteRawBytes(byte[] data, int offset, int count)
        {
            Reserve(count);
            Buffer.BlockCopy(data, offset, buffer, length, count);
            length += count;
        }

        public void WriteVarint(ulong value)
        {
            Reserve(Varint.MaxBytes);
            length = Varint.Write(buffer, length, value);
        }

        /// <summary>A field's key: <c>(field &lt;&lt; 3) | wire type</c>.</summary>
        public void WriteTag(int field, WireType type)
        {
            WriteVarint(((ulong)(uint)field << 3) | (ulong)type);
        }

        public void WriteUInt64Field(int field, ulong value)
        {
            if (value == 0)
                return;
            WriteTag(field, WireType.Varint);
            WriteVarint(value);
        }

        public void WriteUInt32Field(int field, uint value)
        {
            WriteUInt64Field(field, value);
        }

        /// <summary>An enum (int32) field; a negative value takes 10 bytes, as protobuf says.</summary>
        public void WriteEnumField(int field, int value)
        {
            WriteUInt64Field(field, (ulong)(long)value);
        }

        public void WriteBoolField(int field, bool value)
        {
            if (value)
                WriteUInt64Field(field, 1);
        }

        public void WriteBytesField(int field, byte[] value)
        {
            if (value == null || value.Length == 0)
                return;
            WriteTag(field, WireType.LengthDelimited);
            WriteVarint((ulong)value.Length);
            WriteRawBytes(value, 0, value.Length);
        }

        /// <summary>A string field, UTF-8 encoded (an unpaired surrogate is an error).</summary>
        public void WriteStringField(int field, string value)
        {
            if (string.IsNullOrEmpty(value))
                return;
            WriteBytesField(field, Utf8.GetBytes(value));
        }

        /// <summary>A nested message (already encoded into <paramref name="nested"/>), written even when empty.</summary>
        public void WriteMessageField(int field, ProtoWriter nested)
        {
            WriteTag(field, WireType.LengthDelimited);
            WriteVarint((ulong)nested.length);
            WriteRawBytes(nested.buffer, 0, nested.length);
        }

        /// <summary>A repeated message field: one field per element, in order.</summary>
        public void WriteMessageFields<T>(int field, IList<T> messages) where T : IMessage
        {
            if (messages.Count == 0)
                return;
            var inner = new ProtoWriter(32);
            for (int i = 0; i < messages.Count; i++)
            {
                inner.Clear();
                messages[i].WriteTo(inner);
                WriteMessageField(field, inner);
            }
        }

        /// <summary>A repeated uint32 field, packed (proto3's canonical form); nothing if empty.</summary>
        public void WritePackedUInt32Field(int field, IList<uint> values)
        {
            if (values == null || values.Count == 0)
                return;
            int size = 0;
            for (int i = 0; i < values.Count; i++)
                size += Varint.Size(values[i]);
            WriteTag(field, WireType.LengthDelimited);
            WriteVarint((ulong)size);
            for (int i = 0; i < values.Count; i++)
                WriteVarint(values[i]);
        }
    }

    /// <summary>Reads protobuf fields from a byte range; skips what it does not know.</summary>
    /// <remarks>A struct: copying it copies the position. Nested messages are read
    /// with <see cref="ReadMessage"/>, which returns a reader over just their bytes.</remarks>
    public struct ProtoReader
    {
        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);
        readonly byte[] data;
        readonly int end;
        int pos;

        public ProtoReader(byte[] data, int offset, int count)
        {
            if (data == null)
                throw new ArgumentNullException("data");
            if (offset < 0 || count < 0 || offset + count > data.Length)
                throw new ArgumentOutOfRangeException("count");
            this.data = data;
            pos = offset;
            end = offset + count;
        }

        public ProtoReader(ArraySegment<byte> segment)
            : this(segment.Array, segment.Offset, segment.Count)
        {
        }

        /// <summary>All bytes of the range have been read.</summary>
        public bool Done { get { return pos >= end; } }

        /// <summary>Bytes of the range not read yet.</summary>
        public int Remaining { get { return end - pos; } }

        /// <summary>One raw byte (not a protobuf field: the UDP datagrams' flags).</summary>
        public byte ReadRawByte()
        {
            if (pos >= end)
                throw new RemoteProtocolException("truncated: a byte expected");
            return data[pos++];
        }

        /// <summary><paramref name="count"/> raw bytes, copied out.</summary>
        public byte[] ReadRawBytes(int count)
        {
            if (end - pos < count)
                throw new RemoteProtocolException("truncated: " + count + " bytes expected, " + (end - pos) + " left");
            var copy = new byte[count];
            Buffer.BlockCopy(data, pos, copy, 0, count);
            pos += count;
            return copy;
        }

        /// <summary>The next field's key; false at the end of the message.</summary>
        public bool TryReadTag(out int field, out WireType type)
        {
            if (pos >= end)
            {
                field = 0;
                type = WireType.Varint;
                return false;
            }
            ulong key = ReadVarint();
            ulong number = key >> 3;
            if (number == 0 || number > 0x1FFFFFFF)
                throw new RemoteProtocolException("bad protobuf field number " + number);
            field = (int)number;
            type = (WireType)(int)(key & 7);
            return true;
        }

        public ulong ReadVarint()
        {
            ulong result = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (pos >= end)
                    throw new RemoteProtocolException("truncated protobuf varint");
                byte b = data[pos++];
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                    return result;
            }
            throw new RemoteProtocolException("protobuf varint longer than 10 bytes");
        }

        /// <summary>A uint32 field: a longer varint is truncated to its low 32 bits, as protobuf does.</summary>
        public uint ReadUInt32()
        {
            return (uint)ReadVarint();
        }

        public bool ReadBool()
        {
            return ReadVarint() != 0;
        }

        /// <summary>An int32 / enum field (a negative value arrives as a 10-byte varint).</summary>
        public int ReadInt32()
        {
            return (int)ReadVarint();
        }

        /// <summary>The bytes of a length-delimited field, without copying them.</summary>
        public ArraySegment<byte> ReadLengthDelimited()
        {
            ulong size = ReadVarint();
            if (size > (ulong)(end - pos))
                throw new RemoteProtocolException("truncated protobuf field: " + size + " bytes announced, " + (end - pos) + " left");
            var segment = new ArraySegment<byte>(data, pos, (int)size);
            pos += (int)size;
            return segment;
        }

        /// <summary>A bytes field, copied out.</summary>
        public byte[] ReadBytes()
        {
            var segment = ReadLengthDelimited();
            var copy = new byte[segment.Count];
            Buffer.BlockCopy(segment.Array, segment.Offset, copy, 0, segment.Count);
            return copy;
        }

        /// <summary>A string field (invalid UTF-8 is a protocol error).</summary>
        public string ReadString()
        {
            var segment = ReadLengthDelimited();
            try
            {
                return Utf8.GetString(segment.Array, segment.Offset, segment.Count);
            }
            catch (ArgumentException)
            {
                throw new RemoteProtocolException("a protobuf string is not valid UTF-8");
            }
        }

        /// <summary>A nested message: a reader over just its bytes.</summary>
        public ProtoReader ReadMessage()
        {
            return new ProtoReader(ReadLengthDelimited());
        }

        /// <summary>One element or a packed run of a repeated uint32 field (parsers accept both forms).</summary>
        public void ReadRepeatedUInt32(int field, WireType type, List<uint> into)
        {
            if (type == WireType.LengthDelimited)
            {
                var packed = ReadMessage();
                while (!packed.Done)
                    into.Add(packed.ReadUInt32());
            }
            else if (type == WireType.Varint)
            {
                into.Add(ReadUInt32());
            }
            else
            {
                SkipField(field, type);
            }
        }

        /// <summary>Skips the value of the field whose key was just read: any wire type,
        /// groups included (up to the end-group key of the same <paramref name="field"/>).</summary>
        public void SkipField(int field, WireType type)
        {
            SkipField(field, type, 0);
        }

        void SkipField(int field, WireType type, int depth)
        {
            switch (type)
            {
                case WireType.Varint:
                    ReadVarint();
                    return;
                case WireType.Fixed64:
                    Advance(8);
                    return;
                case WireType.Fixed32:
                    Advance(4);
                    return;
                case WireType.LengthDelimited:
                    ReadLengthDelimited();
                    return;
                case WireType.StartGroup:
                    // a (deprecated) group: fields up to the matching end-group key
                    if (depth >= 64)
                        throw new RemoteProtocolException("protobuf groups nested too deeply");
                    while (true)
                    {
                        int innerField;
                        WireType inner;
                        if (!TryReadTag(out innerField, out inner))
                            throw new RemoteProtocolException("protobuf group without its end");
                        if (inner == WireType.EndGroup)
                        {
                            if (innerField != field)
                                throw new RemoteProtocolException("protobuf group ended by another field's key");
                            return;
                        }
                        SkipField(innerField, inner, depth + 1);
                    }
                default:
                    throw new RemoteProtocolException("bad protobuf wire type " + (int)type);
            }
        }

        void Advance(int count)
        {
            if (end - pos < count)
                throw new RemoteProtocolException("truncated protobuf fixed-size field");
            pos += count;
        }
    }
}
