// The few NUnit APIs the tests in Tests/ use, and a runner for them, so the same
// test files run in Unity's Test Runner (real NUnit) and under Mono here without
// any NuGet package. Not part of the Unity package (Tools~ is ignored by Unity).
using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Reflection;

namespace NUnit.Framework
{
    [AttributeUsage(AttributeTargets.Class)]
    public sealed class TestFixtureAttribute : Attribute { }

    [AttributeUsage(AttributeTargets.Method)]
    public sealed class TestAttribute : Attribute { }

    [AttributeUsage(AttributeTargets.Method)]
    public sealed class SetUpAttribute : Attribute { }

    [AttributeUsage(AttributeTargets.Method)]
    public sealed class TearDownAttribute : Attribute { }

    public delegate void TestDelegate();

    public sealed class AssertionException : Exception
    {
        public AssertionException(string message) : base(message) { }
    }

    public static class Assert
    {
        public static void AreEqual(object expected, object actual, string message = null)
        {
            if (!Same(expected, actual))
                Fail(Describe("expected " + Show(expected) + " but was " + Show(actual), message));
        }

        public static void AreEqual(double expected, double actual, double delta, string message = null)
        {
            if (Math.Abs(expected - actual) > delta)
                Fail(Describe("expected " + expected + " +/- " + delta + " but was " + actual, message));
        }

        public static void AreNotEqual(object expected, object actual, string message = null)
        {
            if (Same(expected, actual))
                Fail(Describe("expected a value other than " + Show(expected), message));
        }

        public static void AreSame(object expected, object actual, string message = null)
        {
            if (!ReferenceEquals(expected, actual))
                Fail(Describe("expected the same object", message));
        }

        public static void IsTrue(bool condition, string message = null)
        {
            if (!condition)
                Fail(Describe("expected true", message));
        }

        public static void IsFalse(bool condition, string message = null)
        {
            if (condition)
                Fail(Describe("expected false", message));
        }

        public static void IsNull(object value, string message = null)
        {
            if (value != null)
                Fail(Describe("expected null but was " + Show(value), message));
        }

        public static void IsNotNull(object value, string message = null)
        {
            if (value == null)
                Fail(Describe("expected a value but was null", message));
        }

        public static void IsInstanceOf<T>(object value, string message = null)
        {
            if (!(value is T))
                Fail(Describe("expected a " + typeof(T).Name + " but was " + (value == null ? "null" : value.GetType().Name), message));
        }

        public static T Throws<T>(TestDelegate code, string message = null) where T : Exception
        {
            try
            {
                code();
            }
            catch (Exception e)
            {
                if (e.GetType() == typeof(T))
                    return (T)e;
                Fail(Describe("expected " + typeof(T).Name + " but got " + e.GetType().Name + ": " + e.Message, message));
            }
            Fail(Describe("expected " + typeof(T).Name + " but nothing was thrown", message));
            return null;
        }

        public static T Catch<T>(TestDelegate code, string message = null) where T : Exception
        {
            try
            {
                code();
            }
            catch (T e)
            {
                return e;
            }
            catch (Exception e)
            {
                Fail(Describe("expected " + typeof(T).Name + " or a subclass but got " + e.GetType().Name + ": " + e.Message, message));
            }
            Fail(Describe("expected " + typeof(T).Name + " but nothing was thrown", message));
            return null;
        }

        public static void DoesNotThrow(TestDelegate code, string message = null)
        {
            try
            {
                code();
            }
            catch (Exception e)
            {
                Fail(Describe("expected no exception but got " + e.GetType().Name + ": " + e.Message, message));
            }
        }

        public static void Fail(string message)
        {
            throw new AssertionException(message);
        }

        static bool Same(object expected, object actual)
        {
            if (expected == null || actual == null)
                return expected == null && actual == null;
            var a = expected as IEnumerable;
            var b = actual as IEnumerable;
            if (a != null && b != null && !(expected is string) && !(actual is string))
                return a.Cast<object>().SequenceEqual(b.Cast<object>(), new ValueComparer());
            if (IsNumber(expected) && IsNumber(actual))
                return Convert.ToDecimal(expected) == Convert.ToDecimal(actual);
            return expected.Equals(actual);
        }

        sealed class ValueComparer : IEqualityComparer<object>
        {
            public new bool Equals(object x, object y) { return Same(x, y); }
            public int GetHashCode(object o) { return 0; }
        }

        static bool IsNumber(object o)
        {
            return o is byte || o is sbyte || o is short || o is ushort || o is int || o is uint || o is long || o is ulong;
        }

        static string Show(object o)
        {
            if (o == null)
                return "null";
            if (o is string)
                return "\"" + o + "\"";
            var e = o as IEnumerable;
            if (e != null)
                return "[" + string.Join(", ", e.Cast<object>().Select(Show).ToArray()) + "]";
            return o.ToString();
        }

        static string Describe(string what, string message)
        {
            return message == null ? what : message + ": " + what;
        }
    }
}

namespace Tickcast.Tools
{
    /// <summary>Runs every [Test] method of every [TestFixture] in this assembly; exit code 1 if any fails.</summary>
    public static class TestRunner
    {
        public static int Main(string[] args)
        {
            string filter = args.Length > 0 ? args[0] : null;
            int passed = 0;
            var failures = new List<string>();
            var fixtures = typeof(TestRunner).Assembly.GetTypes()
                .Where(t => t.GetCustomAttributes(typeof(NUnit.Framework.TestFixtureAttribute), false).Length > 0)
                .OrderBy(t => t.FullName);
            foreach (var fixture in fixtures)
            {
                var methods = fixture.GetMethods(BindingFlags.Public | BindingFlags.Instance);
                var setUp = methods.FirstOrDefault(m => Has<NUnit.Framework.SetUpAttribute>(m));
                var tearDown = methods.FirstOrDefault(m => Has<NUnit.Framework.TearDownAttribute>(m));
                foreach (var test in methods.Where(m => Has<NUnit.Framework.TestAttribute>(m)).OrderBy(m => m.MetadataToken))
                {
                    string name = fixture.Name + "." + test.Name;
                    if (filter != null && name.IndexOf(filter, StringComparison.Ordinal) < 0)
                        continue;
                    var watch = Stopwatch.StartNew();
                    try
                    {
                        var instance = Activator.CreateInstance(fixture);
                        try
                        {
                            if (setUp != null) setUp.Invoke(instance, null);
                            test.Invoke(instance, null);
                        }
                        finally
                        {
                            if (tearDown != null) tearDown.Invoke(instance, null);
                        }
                        passed++;
                        Console.WriteLine("ok   " + name + " (" + watch.ElapsedMilliseconds + " ms)");
                    }
                    catch (TargetInvocationException e)
                    {
                        var inner = e.InnerException;
                        failures.Add(name + ": " + inner.GetType().Name + ": " + inner.Message + "\n" + inner.StackTrace);
                        Console.WriteLine("FAIL " + name + ": " + inner.Message);
                    }
                }
            }
            foreach (var failure in failures)
                Console.WriteLine("\n" + failure);
            Console.WriteLine("\n" + passed + " passed, " + failures.Count + " failed");
            return failures.Count == 0 && passed > 0 ? 0 : 1;
        }

        static bool Has<T>(MethodInfo m) where T : Attribute
        {
            return m.GetCustomAttributes(typeof(T), false).Length > 0;
        }
    }
}
