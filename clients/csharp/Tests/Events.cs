using System;
using System.Collections.Generic;
using NUnit.Framework;

namespace Tickcast.Tests
{
    static class Events
    {
        /// <summary>Takes a client's events (via TryTakeEvent, on this thread) until one satisfies
        /// <paramref name="wanted"/>; returns them all. Fails after 10 s.</summary>
        public static List<ClientEvent> Until(TickcastClient client, Func<ClientEvent, bool> wanted, string what)
        {
            var seen = new List<ClientEvent>();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (DateTime.UtcNow < deadline)
            {
                ClientEvent ev;
                while (client.TryTakeEvent(out ev))
                {
                    seen.Add(ev);
                    if (wanted(ev))
                        return seen;
                }
                client.WaitForEvent(TimeSpan.FromMilliseconds(100));
            }
            Assert.Fail("no " + what + " within 10 s; got " + string.Join(", ", seen.ConvertAll(e => e.ToString()).ToArray()));
            return seen;
        }
    }
}
