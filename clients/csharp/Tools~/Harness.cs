// The program the Python test suite drives (tests/integration/test_csharp_client.py
// and test_csharp_udp.py):
//
//   mono Tickcast.Harness.exe golden < vectors.tsv
//       decodes each vector (kind, name, hex) and prints, as one JSON line each,
//       its dump and its encoding again (plus the Hello/Input the core builds);
//       (udp-* vectors: datagrams read and encoded back, a client datagram made
//       from its fields, a scripted UdpSession; see UdpScript);
//   mono Tickcast.Harness.exe client --host H --port P --player ID [options]
//       (--udp asks for a UDP session)
//       one TickcastClient, remote-controlled: commands on stdin (send HEX,
//       hash TICK HEX, leave, close, close-noleave, stats, quit), every event as
//       a JSON line on stdout, taken with Poll() on the main thread.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Tickcast;
using Tickcast.Protocol;
using Tickcast.Udp;

namespace Tickcast.Tools
{
    public static class Harness
    {
        public static int Main(string[] args)
        {
            if (args.Length == 0)
            {
                Console.Error.WriteLine("usage: Tickcast.Harness.exe golden | client --host H --port P --player ID [...]");
                return 2;
            }
            try
            {
                if (args[0] == "golden")
                    return Golden(Console.In);
                if (args[0] == "client")
                    return RunClient(args.Skip(1).ToArray());
            }
            catch (Exception e)
            {
                Console.Error.WriteLine(e);
                return 1;
            }
            Console.Error.WriteLine("unknown mode " + args[0]);
            return 2;
        }

        // ------------------------------------------------------------ golden vectors

        static int Golden(TextReader input)
        {
            string line;
            while ((line = input.ReadLine()) != null)
            {
                if (line.Length == 0)
                    continue;
                var parts = line.Split('\t');
                var json = new Json();
                json.Add("name", parts[1]);
                try
                {
                    Vector(parts[0], parts, json);
                }
                catch (Exception e)
                {
                    json.Add("error", e.GetType().Name + ": " + e.Message);
                }
                Emit(json);
            }
            return 0;
        }

        static void Vector(string kind, string[] parts, Json json)
        {
            byte[] data = kind == "hello" || kind == "input" || kind.StartsWith("udp-", StringComparison.Ordinal) ? null : FromHex(parts[2]);
            switch (kind)
            {
                case "server":
                {
                    var msg = ServerMessage.Decode(data);
                    json.Add("dump", Dump(msg));
                    json.Add("encoded", ToHex(msg.Encode()));
                    break;
                }
                case "client":
                {
                    var msg = ClientMessage.Decode(data);
                    json.Add("dump", Dump(msg));
                    json.Add("encoded", ToHex(msg.Encode()));
                    break;
                }
                case "server-frames":
                case "client-frames":
                {
                    // a TCP byte stream: split it, decode each frame, and frame the encodings again
                    var frames = new List<byte[]>();
                    var framer = new Framer();
                    framer.Feed(data, 0, data.Length, frames);
                    var dumps = new List<string>();
                    var again = new List<byte>();
                    foreach (var body in frames)
                    {
                        byte[] encoded;
                        if (kind == "server-frames")
                        {
                            var msg = ServerMessage.Decode(body);
                            dumps.Add(Dump(msg));
                            encoded = msg.Encode();
                        }
                        else
                        {
                            var msg = ClientMessage.Decode(body);
                            dumps.Add(Dump(msg));
                            encoded = msg.Encode();
                        }
                        again.AddRange(Framing.Frame(encoded));
                    }
                    json.Add("dump", string.Join(" | ", dumps.ToArray()));
                    json.Add("encoded", ToHex(again.ToArray()));
                    json.Add("buffered", framer.Buffered);
                    break;
                }
                case "hello":
                {
                    // the core's Hello after a scenario: player|room|token|spectator|full_history|first_tick|ticks
                    var p = parts[2].Split('|');
                    var core = new ClientCore(Utf8(p[0]), Utf8(p[1]), Utf8(p[2]), p[3] == "1", p[4] == "1");
                    ulong firstTick = ulong.Parse(p[5], CultureInfo.InvariantCulture);
                    int ticks = int.Parse(p[6], CultureInfo.InvariantCulture);
                    if (firstTick > 0)
                    {
                        core.OnWelcome(new Welcome { Slot = 1, FirstTick = firstTick });
                        for (int i = 0; i < ticks; i++)
                        {
                            var tick = new Protocol.Tick { Number = firstTick + (ulong)i };
                            core.OnTick(tick, new ArraySegment<byte>(tick.Encode()));
                        }
                    }
                    json.Add("encoded", ToHex(Framing.Frame(core.HelloMessage())));
                    break;
                }
                case "input":
                {
                    // seq|payload as the core numbers and encodes it
                    var p = parts[2].Split('|');
                    json.Add("encoded", ToHex(Framing.Frame(ClientCore.InputMessage(uint.Parse(p[0], CultureInfo.InvariantCulture), FromHex(p[1])))));
                    break;
                }
                case "udp-server-read":
                case "udp-client-read":
                {
                    // session \t key \t datagram,datagram,...: read through one replay window, then encode back
                    var session = FromHex(parts[2]);
                    var key = new DatagramKey(FromHex(parts[3]));
                    var window = new ReplayWindow();
                    var results = new List<string>();
                    foreach (var hex in parts[4].Split(','))
                    {
                        var datagram = FromHex(hex);
                        results.Add(kind == "udp-server-read"
                            ? ServerDatagramJson(datagram, session, key, window)
                            : ClientDatagramJson(datagram, session, key, window));
                    }
                    json.AddRaw("results", "[" + string.Join(",", results.ToArray()) + "]");
                    break;
                }
                case "udp-client-make":
                {
                    // session \t key \t seq \t active \t received \t response|- \t ping|- \t seq:payload;...
                    var d = new ClientDatagram
                    {
                        Seq = uint.Parse(parts[4], CultureInfo.InvariantCulture),
                        Active = parts[5] == "1",
                        Received = ulong.Parse(parts[6], CultureInfo.InvariantCulture),
                        Response = parts[7] == "-" ? null : FromHex(parts[7]),
                        Ping = parts[8] == "-" ? (ulong?)null : ulong.Parse(parts[8], CultureInfo.InvariantCulture),
                    };
                    if (parts.Length > 9 && parts[9].Length > 0)
                        foreach (var input in parts[9].Split(';'))
                        {
                            var sp = input.Split(':');
                            d.InputFrames.Add(Framing.Frame(ClientCore.InputMessage(uint.Parse(sp[0], CultureInfo.InvariantCulture), FromHex(sp[1]))));
                        }
                    using (var key = new DatagramKey(FromHex(parts[3])))
                        json.Add("encoded", ToHex(Datagram.EncodeClient(FromHex(parts[2]), key, d)));
                    break;
                }
                case "udp-script":
                    json.AddRaw("steps", UdpScript(parts[2] == "1", parts[3]));
                    break;
                default:
                    throw new ArgumentException("unknown vector kind " + kind);
            }
        }

        static string ServerDatagramJson(byte[] data, byte[] session, DatagramKey key, ReplayWindow window)
        {
            ServerDatagram d;
            var refusal = Datagram.ReadServer(data, 0, data.Length, session, key, window, out d);
            var json = new Json();
            json.Add("refusal", refusal.ToString());
            if (d != null)
            {
                json.Add("seq", d.Seq);
                json.Add("newest", d.Newest);
                json.Add("span", d.Span);
                json.AddRaw("challenge", d.Challenge == null ? "null" : Json.Quote(ToHex(d.Challenge)));
                json.AddRaw("pong", d.Pong.HasValue ? d.Pong.Value.ToString(CultureInfo.InvariantCulture) : "null");
                json.AddRaw("frames", "[" + string.Join(",", d.Frames.Select(f => "[" + f.Number + "," + Json.Quote(ToHex(f.Body)) + "]").ToArray()) + "]");
                var frames = d.Frames.Select(f => Framing.Frame(f.Body)).ToList();
                json.Add("encoded", ToHex(Datagram.EncodeServer(session, key, d.Seq, d.Newest, d.Span, d.Challenge, d.Pong, frames)));
            }
            return json.ToString();
        }

        static string ClientDatagramJson(byte[] data, byte[] session, DatagramKey key, ReplayWindow window)
        {
            ClientDatagram d;
            var refusal = Datagram.ReadClient(data, 0, data.Length, session, key, window, out d);
            var json = new Json();
            json.Add("refusal", refusal.ToString());
            if (d != null)
            {
                json.Add("seq", d.Seq);
                json.Add("active", d.Active);
                json.Add("received", d.Received);
                json.AddRaw("response", d.Response == null ? "null" : Json.Quote(ToHex(d.Response)));
                json.AddRaw("ping", d.Ping.HasValue ? d.Ping.Value.ToString(CultureInfo.InvariantCulture) : "null");
                json.AddRaw("inputs", "[" + string.Join(",", d.Inputs.Select(i => "[" + i.Seq + "," + Json.Quote(ToHex(i.Payload)) + "]").ToArray()) + "]");
                json.Add("encoded", ToHex(Datagram.EncodeClient(session, key, d)));
            }
            return json.ToString();
        }

        /// <summary>A ClientCore and a UdpSession driven by a script of timed events (time in 1/64 s, which
        /// every timer of the session is a whole multiple of, so float and integer clocks agree):
        /// welcome@HEX@T, input@T@HEX, dgram@T@HEX, stream@T@HEX, timer@T, separated by ';'. For every
        /// event: the datagrams sent, the frames written on the stream, the ticks handed over, the mode.</summary>
        static string UdpScript(bool skipEmptyTicks, string script)
        {
            var core = new ClientCore("cy", "arena", skipEmptyTicks: skipEmptyTicks) { UdpVersion = 1 };
            UdpSession udp = null;
            var act = new UdpActions();
            var steps = new List<string>();
            foreach (var command in script.Split(';'))
            {
                var p = command.Split('@');
                var stream = new List<string>();
                var ticks = new List<Tick>();
                TimeSpan now = p.Length > 1 && p[0] != "welcome" ? TimeSpan.FromTicks(long.Parse(p[1], CultureInfo.InvariantCulture) * (TimeSpan.TicksPerSecond / 64)) : TimeSpan.Zero;
                switch (p[0])
                {
                    case "welcome":
                    {
                        var welcome = ServerMessage.Decode(FromHex(p[1])).Welcome;
                        foreach (var resend in core.OnWelcome(welcome))
                            stream.Add(ToHex(Framing.Frame(resend)));
                        now = TimeSpan.FromTicks(long.Parse(p[2], CultureInfo.InvariantCulture) * (TimeSpan.TicksPerSecond / 64));
                        udp = new UdpSession(core, welcome.Udp);
                        udp.Start(now, act);
                        break;
                    }
                    case "input":
                    {
                        byte[] message;
                        core.NextInput(FromHex(p[2]), out message);
                        udp.OnInput(now, act);
                        break;
                    }
                    case "dgram":
                    {
                        var data = FromHex(p[2]);
                        udp.OnDatagram(data, 0, data.Length, now, act);
                        break;
                    }
                    case "stream":
                    {
                        var message = ServerMessage.Decode(FromHex(p[2]));
                        udp.OnStreamTick(message.Tick.Number, message, now, act);
                        break;
                    }
                    case "timer":
                        udp.OnTimer(now, act);
                        break;
                    default:
                        throw new ArgumentException("unknown script command " + p[0]);
                }
                ticks.AddRange(act.Ticks);
                foreach (var message in act.StreamMessages)
                    stream.Add(ToHex(Framing.Frame(message)));
                var step = new Json();
                step.AddRaw("datagrams", "[" + string.Join(",", act.Datagrams.Select(d => Json.Quote(ToHex(d))).ToArray()) + "]");
                step.AddRaw("stream", "[" + string.Join(",", stream.Select(Json.Quote).ToArray()) + "]");
                step.AddRaw("ticks", "[" + string.Join(",", ticks.Select(t => "[" + t.Number + "," + Json.Quote(ToHex(t.Raw)) + "]").ToArray()) + "]");
                step.Add("mode", udp.Mode.ToString().ToLowerInvariant());
                steps.Add(step.ToString());
                act.Clear();
            }
            return "[" + string.Join(",", steps.ToArray()) + "]";
        }

        static string Utf8(string hex)
        {
            return Encoding.UTF8.GetString(FromHex(hex));
        }

        /// <summary>A canonical text of a message (strings and bytes as hex), the same as the Python test's.</summary>
        static string Dump(ServerMessage m)
        {
            switch (m.Body)
            {
                case ServerBody.Welcome:
                {
                    var w = m.Welcome;
                    return "welcome{room=" + S(w.Room) + ",slot=" + w.Slot + ",tick_rate=" + w.TickRate + ",first_tick=" + w.FirstTick
                        + ",members=[" + string.Join(",", w.Members.Select(x => x.Slot + ":" + S(x.PlayerId)).ToArray()) + "]"
                        + ",last_seq=" + w.LastSeq + ",server_id=" + S(w.ServerId) + "}";
                }
                case ServerBody.Tick:
                {
                    var t = m.Tick;
                    return "tick{number=" + t.Number
                        + ",inputs=[" + string.Join(",", t.Inputs.Select(i => i.Slot + ":" + i.Seq + ":" + ToHex(i.Payload)).ToArray()) + "]"
                        + ",joined=[" + string.Join(",", t.Joined.Select(x => x.Slot + ":" + S(x.PlayerId)).ToArray()) + "]"
                        + ",left=[" + string.Join(",", t.Left.Select(x => x.ToString(CultureInfo.InvariantCulture)).ToArray()) + "]"
                        + ",chain=" + ToHex(t.Chain)
                        + ",desyncs=[" + string.Join(",", t.Desyncs.Select(d => d.Tick + ":" + string.Join("/", d.Slots.Select(s => s.ToString(CultureInfo.InvariantCulture)).ToArray())).ToArray()) + "]"
                        + ",raw=" + ToHex(m.TickBytes.ToArray()) + "}";
                }
                case ServerBody.Pong:
                    return "pong{nonce=" + m.Pong.Nonce + ",tick=" + m.Pong.Tick + "}";
                case ServerBody.Kick:
                    return "kick{reason=" + (int)m.Kick.Reason + ",detail=" + S(m.Kick.Detail) + ",redirect=" + S(m.Kick.Redirect) + "}";
                default:
                    return "none{}";
            }
        }

        static string Dump(ClientMessage m)
        {
            switch (m.Body)
            {
                case ClientBody.Hello:
                {
                    var h = m.Hello;
                    return "hello{protocol_version=" + h.ProtocolVersion + ",player_id=" + S(h.PlayerId) + ",token=" + S(h.Token)
                        + ",room=" + S(h.Room) + ",resume_after=" + h.ResumeAfter + ",full_history=" + B(h.FullHistory)
                        + ",spectator=" + B(h.Spectator) + "}";
                }
                case ClientBody.Input:
                    return "input{seq=" + m.Input.Seq + ",payload=" + ToHex(m.Input.Payload) + "}";
                case ClientBody.Ping:
                    return "ping{nonce=" + m.Ping.Nonce + "}";
                case ClientBody.Ack:
                    return "ack{tick=" + m.Ack.Tick + "}";
                case ClientBody.Leave:
                    return "leave{}";
                case ClientBody.StateHash:
                    return "state_hash{tick=" + m.StateHash.Tick + ",hash=" + ToHex(m.StateHash.Hash) + "}";
                default:
                    return "none{}";
            }
        }

        static string S(string s)
        {
            return ToHex(Encoding.UTF8.GetBytes(s));
        }

        static string B(bool b)
        {
            return b ? "1" : "0";
        }

        // ------------------------------------------------------------ a remote-controlled client

        static int RunClient(string[] args)
        {
            var options = new ClientOptions();
            for (int i = 0; i < args.Length; i++)
            {
                string a = args[i];
                Func<string> next = () => args[++i];
                switch (a)
                {
                    case "--host": options.Host = next(); break;
                    case "--port": options.Port = int.Parse(next(), CultureInfo.InvariantCulture); break;
                    case "--player": options.PlayerId = next(); break;
                    case "--room": options.Room = next(); break;
                    case "--token": options.Token = next(); break;
                    case "--spectator": options.Spectator = true; break;
                    case "--full-history": options.FullHistory = true; break;
                    case "--skip-empty-ticks": options.SkipEmptyTicks = true; break;
                    case "--no-reconnect": options.Reconnect = false; break;
                    case "--connect-timeout": options.ConnectTimeout = Seconds(next()); break;
                    case "--dead-after": options.DeadAfter = Seconds(next()); break;
                    case "--ping-interval": options.PingInterval = Seconds(next()); break;
                    case "--backoff-initial": options.BackoffInitial = Seconds(next()); break;
                    case "--backoff-max": options.BackoffMax = Seconds(next()); break;
                    case "--max-attempts": options.MaxAttempts = int.Parse(next(), CultureInfo.InvariantCulture); break;
                    case "--max-redirects": options.MaxRedirects = int.Parse(next(), CultureInfo.InvariantCulture); break;
                    case "--leave-timeout": options.LeaveTimeout = Seconds(next()); break;
                    case "--protocol-version": options.ProtocolVersion = uint.Parse(next(), CultureInfo.InvariantCulture); break;
                    case "--seed": options.Seed = int.Parse(next(), CultureInfo.InvariantCulture); break;
                    case "--log": options.Log = message => Console.Error.WriteLine(message); break;
                    case "--udp": options.Udp = true; break;
                    case "--udp-silence": Timers(options).Silence = Seconds(next()); break;
                    case "--udp-probe-timeout": Timers(options).ProbeTimeout = Seconds(next()); break;
                    case "--udp-retry": Timers(options).FallbackProbeInterval = Seconds(next()); break;
                    default: throw new ArgumentException("unknown option " + a);
                }
            }
            var client = new TickcastClient(options);
            var mainThread = Thread.CurrentThread.ManagedThreadId;
            bool stop = false;
            client.Welcomed += ev =>
            {
                var json = Event("welcomed", mainThread);
                json.Add("slot", ev.Slot);
                json.Add("first_tick", ev.FirstTick);
                json.AddRaw("members", "[" + string.Join(",", ev.Members.Select(m => "[" + m.Slot + "," + Json.Quote(m.PlayerId) + "]").ToArray()) + "]");
                json.Add("endpoint", ev.Endpoint.ToString());
                json.Add("room", client.Room);
                json.Add("tick_rate", client.TickRate);
                json.Add("server_id", client.ServerId);
                Emit(json);
            };
            client.TickReceived += tick =>
            {
                var json = Event("tick", mainThread);
                json.Add("number", tick.Number);
                json.Add("raw", ToHex(tick.Raw));
                json.AddRaw("inputs", "[" + string.Join(",", tick.Inputs.Select(x => "[" + x.Slot + "," + x.Seq + "," + Json.Quote(ToHex(x.Payload)) + "," + Json.Quote(x.PlayerId) + "]").ToArray()) + "]");
                json.AddRaw("joined", Members(tick.Joined));
                json.AddRaw("left", Members(tick.Left));
                Emit(json);
            };
            client.Disconnected += error =>
            {
                var json = Event("disconnected", mainThread);
                AddError(json, error);
                Emit(json);
            };
            client.Resumed += ev =>
            {
                var json = Event("resumed", mainThread);
                json.Add("reconnects", ev.Reconnects);
                json.Add("endpoint", ev.Endpoint.ToString());
                Emit(json);
            };
            client.UdpModeChanged += mode =>
            {
                var json = Event("udp", mainThread);
                json.Add("mode", mode.ToString().ToLowerInvariant());
                Emit(json);
            };
            client.Closed += error =>
            {
                var json = Event("closed", mainThread);
                AddError(json, error);
                Emit(json);
            };

            // stdin is read on its own thread; commands run on the main thread, between polls
            var commands = new Queue<string>();
            var commandWaiting = new AutoResetEvent(false);
            var reader = new Thread(() =>
            {
                string line;
                while ((line = Console.In.ReadLine()) != null)
                {
                    lock (commands)
                        commands.Enqueue(line);
                    commandWaiting.Set();
                }
                lock (commands)
                    commands.Enqueue("quit");
                commandWaiting.Set();
            }) { IsBackground = true };
            reader.Start();
            client.Start();
            var handles = new WaitHandle[] { client.EventAvailable, commandWaiting };
            while (!stop)
            {
                WaitHandle.WaitAny(handles);
                client.Poll();
                while (true)
                {
                    string command;
                    lock (commands)
                    {
                        if (commands.Count == 0)
                            break;
                        command = commands.Dequeue();
                    }
                    stop = Command(client, command.Trim(), mainThread);
                    client.Poll();
                    if (stop)
                        break;
                }
            }
            client.Close(false);
            return 0;
        }

        /// <summary>Runs one command; true means quit.</summary>
        static bool Command(TickcastClient client, string command, int mainThread)
        {
            if (command.Length == 0)
                return false;
            var words = command.Split(' ');
            try
            {
                switch (words[0])
                {
                    case "send":
                    {
                        // send HEX [HEX ...]: one input per argument ("-" is an empty payload)
                        for (int i = 1; i < words.Length; i++)
                        {
                            uint seq = client.Send(words[i] == "-" ? new byte[0] : FromHex(words[i]));
                            var json = Event("sent", mainThread);
                            json.Add("seq", seq);
                            Emit(json);
                        }
                        return false;
                    }
                    case "hash":
                        client.SendStateHash(ulong.Parse(words[1], CultureInfo.InvariantCulture), FromHex(words[2]));
                        return false;
                    case "ack":
                        client.SendAck(ulong.Parse(words[1], CultureInfo.InvariantCulture));
                        return false;
                    case "leave":
                        client.Leave();
                        return false;
                    case "close":
                        client.Close(true);
                        return false;
                    case "close-noleave":
                        client.Close(false);
                        return false;
                    case "stats":
                    {
                        var json = Event("stats", mainThread);
                        json.Add("reconnects", client.Reconnects);
                        json.Add("pending", client.PendingInputs);
                        json.Add("resent", client.ResentInputs);
                        json.Add("last_tick", client.LastTick);
                        json.Add("received", client.ReceivedTick);
                        json.Add("slot", client.Slot);
                        json.Add("endpoint", client.Endpoint.ToString());
                        json.Add("connected", client.IsConnected);
                        json.Add("closed", client.IsClosed);
                        json.Add("server_tick", client.ServerTick);
                        json.AddRaw("rtt_ms", client.Rtt.HasValue ? client.Rtt.Value.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture) : "null");
                        json.AddRaw("kicks", "[" + string.Join(",", client.Kicks.Select(k => "[" + Json.Quote(k.GetType().Name) + "," + Json.Quote(k.ReasonName) + "," + Json.Quote(k.Detail) + "]").ToArray()) + "]");
                        json.AddRaw("members", "[" + string.Join(",", client.Members.Values.OrderBy(m => m.Slot).Select(m => "[" + m.Slot + "," + Json.Quote(m.PlayerId) + "]").ToArray()) + "]");
                        var udp = client.Udp;
                        var u = new Json();
                        u.AddRaw("mode", udp.Mode.HasValue ? Json.Quote(udp.Mode.Value.ToString().ToLowerInvariant()) : "null");
                        u.Add("sessions", udp.Sessions);
                        u.Add("datagrams_sent", udp.DatagramsSent);
                        u.Add("datagrams_received", udp.DatagramsReceived);
                        u.Add("refused", udp.Refused);
                        u.Add("fallbacks", udp.Fallbacks);
                        u.Add("ticks_via_datagram", udp.TicksViaDatagram);
                        u.Add("ticks_via_stream", udp.TicksViaStream);
                        u.Add("duplicate_ticks", udp.DuplicateTicks);
                        u.Add("repaired_ticks", udp.RepairedTicks);
                        json.AddRaw("udp", u.ToString());
                        Emit(json);
                        return false;
                    }
                    case "quit":
                        return true;
                    default:
                        throw new ArgumentException("unknown command " + words[0]);
                }
            }
            catch (Exception e)
            {
                var json = Event("command-failed", mainThread);
                json.Add("command", words[0]);
                AddError(json, e);
                Emit(json);
                return false;
            }
        }

        static Json Event(string name, int mainThread)
        {
            var json = new Json();
            json.Add("event", name);
            // every handler must run on the thread that polls (the "game" thread)
            json.Add("main_thread", Thread.CurrentThread.ManagedThreadId == mainThread);
            return json;
        }

        static void AddError(Json json, Exception error)
        {
            if (error == null)
            {
                json.AddRaw("error", "null");
                return;
            }
            json.Add("error", error.GetType().Name);
            json.Add("message", error.Message);
            var kicked = error as KickedException;
            if (kicked != null)
            {
                json.Add("reason", kicked.ReasonName);
                json.Add("detail", kicked.Detail);
                json.Add("retried", kicked.Retried);
            }
            if (error.InnerException != null)
                json.Add("inner", error.InnerException.GetType().Name);
        }

        static string Members(IReadOnlyList<Member> members)
        {
            return "[" + string.Join(",", members.Select(m => "[" + m.Slot + "," + Json.Quote(m.PlayerId) + "]").ToArray()) + "]";
        }

        static UdpTimers Timers(ClientOptions options)
        {
            if (options.UdpTimers == null)
                options.UdpTimers = new UdpTimers();
            return options.UdpTimers;
        }

        static TimeSpan Seconds(string s)
        {
            return TimeSpan.FromSeconds(double.Parse(s, CultureInfo.InvariantCulture));
        }

        static readonly object StdoutLock = new object();

        static void Emit(Json json)
        {
            lock (StdoutLock)
            {
                Console.Out.WriteLine(json.ToString());
                Console.Out.Flush();
            }
        }

        static byte[] FromHex(string hex)
        {
            if (hex.Length % 2 != 0)
                throw new FormatException("odd hex length");
            var bytes = new byte[hex.Length / 2];
            for (int i = 0; i < bytes.Length; i++)
                bytes[i] = byte.Parse(hex.Substring(2 * i, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            return bytes;
        }

        static string ToHex(byte[] bytes)
        {
            var sb = new StringBuilder(bytes.Length * 2);
            foreach (var b in bytes)
                sb.Append(b.ToString("x2", CultureInfo.InvariantCulture));
            return sb.ToString();
        }

        /// <summary>A JSON object written field by field.</summary>
        sealed class Json
        {
            readonly List<string> fields = new List<string>();

            public void Add(string key, string value) { AddRaw(key, Quote(value)); }
            public void Add(string key, bool value) { AddRaw(key, value ? "true" : "false"); }
            public void Add(string key, ulong value) { AddRaw(key, value.ToString(CultureInfo.InvariantCulture)); }
            public void Add(string key, long value) { AddRaw(key, value.ToString(CultureInfo.InvariantCulture)); }
            public void AddRaw(string key, string json) { fields.Add(Quote(key) + ":" + json); }

            public override string ToString()
            {
                return "{" + string.Join(",", fields.ToArray()) + "}";
            }

            public static string Quote(string s)
            {
                if (s == null)
                    return "null";
                var sb = new StringBuilder("\"");
                foreach (char c in s)
                {
                    if (c == '"') sb.Append("\\\"");
                    else if (c == '\\') sb.Append("\\\\");
                    else if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                }
                return sb.Append('"').ToString();
            }
        }
    }
}
