// A .NET console program on tickcast: joins a room, sends an input every few
// ticks, prints every tick, and leaves after a number of ticks.
//
//   mono ConsoleSample.exe --host 127.0.0.1 --port 7777 --player ada --room r1 --ticks 60 [--udp]
//
// A console program has no frame loop, so it blocks until an event waits
// (client.WaitForEvent) and then polls; a game polls once per frame instead.
using System;
using System.Globalization;
using System.Text;
using Tickcast;

namespace Tickcast.Samples
{
    public static class ConsoleSample
    {
        public static int Main(string[] args)
        {
            var options = new ClientOptions { PlayerId = "console-" + System.Diagnostics.Process.GetCurrentProcess().Id, Room = "r1" };
            ulong ticksToPlay = 60;
            int every = 10;
            for (int i = 0; i < args.Length; i++)
            {
                if (args[i] == "--udp")
                {
                    options.Udp = true;   // a flag: no value
                    continue;
                }
                string value = i + 1 < args.Length ? args[i + 1] : null;
                switch (value == null ? "" : args[i])
                {
                    case "--host": options.Host = value; break;
                    case "--port": options.Port = int.Parse(value, CultureInfo.InvariantCulture); break;
                    case "--player": options.PlayerId = value; break;
                    case "--room": options.Room = value; break;
                    case "--token": options.Token = value; break;
                    case "--ticks": ticksToPlay = ulong.Parse(value, CultureInfo.InvariantCulture); break;
                    case "--every": every = int.Parse(value, CultureInfo.InvariantCulture); break;
                    default:
                        value = null;
                        break;
                }
                if (value == null)
                {
                    Console.Error.WriteLine("usage: ConsoleSample.exe [--host H] [--port P] [--player ID] [--room R] [--token JWT] [--ticks N] [--every K] [--udp]");
                    return 2;
                }
                i++;
            }

            using (var client = new TickcastClient(options))
            {
                ulong played = 0;
                Exception ended = null;
                bool closed = false;
                client.Welcomed += ev =>
                    Console.WriteLine("joined " + client.Room + " as slot " + ev.Slot + " at " + client.TickRate
                        + " ticks/s; first tick " + ev.FirstTick + "; members before: " + string.Join(", ", ev.Members));
                client.TickReceived += tick =>
                {
                    played++;
                    foreach (var m in tick.Joined)
                        Console.WriteLine("tick " + tick.Number + ": " + m.PlayerId + " joined (slot " + m.Slot + ")");
                    foreach (var input in tick.Inputs)
                        Console.WriteLine("tick " + tick.Number + ": " + input.PlayerId + " #" + input.Seq + " " + Encoding.UTF8.GetString(input.Payload));
                    foreach (var m in tick.Left)
                        Console.WriteLine("tick " + tick.Number + ": " + m.PlayerId + " left");
                    if (every > 0 && played % (ulong)every == 0)
                        client.Send(Encoding.UTF8.GetBytes("hello from " + client.PlayerId + " at tick " + tick.Number));
                };
                client.Disconnected += error => Console.WriteLine("connection lost (" + error.Message + "); resuming");
                client.Resumed += ev => Console.WriteLine("resumed (" + ev.Reconnects + " reconnects so far)");
                client.UdpModeChanged += mode => Console.WriteLine("UDP " + mode.ToString().ToLowerInvariant());
                client.Closed += error =>
                {
                    closed = true;
                    ended = error;
                };
                client.Start();
                while (!closed && played < ticksToPlay)
                {
                    client.WaitForEvent(TimeSpan.FromSeconds(1));
                    client.Poll();
                }
                if (closed && ended != null)
                {
                    Console.Error.WriteLine("stopped: " + ended.Message);
                    return 1;
                }
                Console.WriteLine("played " + played + " ticks; leaving");
            }   // Dispose: Leave, then close
            return 0;
        }
    }
}
