using System;
using System.Text;

namespace Tickcast.Tests
{
    static class Hex
    {
        /// <summary>"0a 0e 08" or "0a0e08" to bytes.</summary>
        public static byte[] Parse(string hex)
        {
            var clean = hex.Replace(" ", "").Replace("\n", "");
            var bytes = new byte[clean.Length / 2];
            for (int i = 0; i < bytes.Length; i++)
                bytes[i] = Convert.ToByte(clean.Substring(2 * i, 2), 16);
            return bytes;
        }

        public static string Of(byte[] bytes)
        {
            var sb = new StringBuilder(bytes.Length * 2);
            foreach (var b in bytes)
                sb.Append(b.ToString("x2"));
            return sb.ToString();
        }

        public static byte[] Utf8(string text)
        {
            return Encoding.UTF8.GetBytes(text);
        }

        public static byte[] Concat(params byte[][] parts)
        {
            int n = 0;
            foreach (var p in parts)
                n += p.Length;
            var all = new byte[n];
            int pos = 0;
            foreach (var p in parts)
            {
                Buffer.BlockCopy(p, 0, all, pos, p.Length);
                pos += p.Length;
            }
            return all;
        }
    }
}
