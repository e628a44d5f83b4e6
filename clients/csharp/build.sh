#!/usr/bin/env bash
# Builds the C# client with Mono's compiler (apt-get install mono-devel), in the
# C# subset Unity accepts (C# 7.x, against the .NET Framework 4.7.1 reference
# assemblies, which implement .NET Standard 2.0), and checks that every type the
# library uses is part of .NET Standard 2.0. Outputs go to .build/ (Unity ignores
# dot-folders):
#   Tickcast.dll            the library (Runtime/)
#   Tickcast.Tests.exe      Tests/ with a small NUnit-compatible runner: mono .build/Tickcast.Tests.exe
#   Tickcast.Harness.exe    the program the Python test suite drives
#   ConsoleSample.exe       Samples~/Console: mono .build/ConsoleSample.exe --help
#   UnitySample.dll         Samples~/Unity compiled against stubs of the UnityEngine APIs it uses
# Usage: clients/csharp/build.sh [--test]   (--test also runs the unit tests)
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v mcs >/dev/null 2>&1 || ! command -v ikdasm >/dev/null 2>&1 \
  || [ ! -d /usr/lib/mono/4.7.1-api ]; then
  echo "build.sh: the C# client needs Mono's compiler and reference assemblies: apt-get install -y mono-devel" >&2
  exit 2
fi

out=.build
mkdir -p "$out"
# C# 7.2 is the newest mcs knows; Unity's compilers accept everything it does
csc=(mcs -langversion:7.2 -sdk:4.7.1-api -warnaserror+ -warn:4 -nologo -debug-)

"${csc[@]}" -target:library -doc:"$out/Tickcast.xml" -nowarn:1591 -out:"$out/Tickcast.dll" -recurse:'Runtime/*.cs'

# .NET Standard 2.0: every type the library references must be one netstandard.dll forwards
facade=/usr/lib/mono/4.5/Facades/netstandard.dll
if [ -f "$facade" ]; then
  ikdasm "$facade" 2>/dev/null | sed -n 's/^\.class extern forwarder //p' | sort -u >"$out/netstandard.types"
  ikdasm "$out/Tickcast.dll" 2>/dev/null | grep -o '\[[A-Za-z.]*\][A-Za-z0-9_.`]*' \
    | sed 's/^\[[^]]*\]//' | sort -u >"$out/referenced.types"
  outside=$(comm -23 "$out/referenced.types" "$out/netstandard.types")
  if [ -n "$outside" ]; then
    echo "build.sh: Tickcast.dll uses types outside .NET Standard 2.0:" >&2
    echo "$outside" >&2
    exit 1
  fi
  echo "build.sh: $(wc -l <"$out/referenced.types") referenced types, all in .NET Standard 2.0"
else
  echo "build.sh: cannot check the .NET Standard 2.0 subset ($facade is missing): apt-get install -y mono-devel" >&2
  exit 1
fi

"${csc[@]}" -target:exe -r:"$out/Tickcast.dll" -out:"$out/Tickcast.Tests.exe" -recurse:'Tests/*.cs' 'Tools~/NUnitLite.cs' -main:Tickcast.Tools.TestRunner
"${csc[@]}" -target:exe -r:"$out/Tickcast.dll" -out:"$out/Tickcast.Harness.exe" 'Tools~/Harness.cs'
"${csc[@]}" -target:exe -r:"$out/Tickcast.dll" -out:"$out/ConsoleSample.exe" -recurse:'Samples~/Console/*.cs'
"${csc[@]}" -target:library -r:"$out/Tickcast.dll" -out:"$out/UnitySample.dll" -recurse:'Samples~/Unity/*.cs' 'Tools~/UnityEngineStubs.cs'
echo "build.sh: built $out/Tickcast.dll, Tickcast.Tests.exe, Tickcast.Harness.exe, ConsoleSample.exe, UnitySample.dll"

if [ "${1:-}" = "--test" ]; then
  mono "$out/Tickcast.Tests.exe"
fi
