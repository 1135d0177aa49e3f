// The C# quick start; its body is QuickStartSample.Run, which the tests also run.
QuickStart.QuickStartSample.Run(Console.Out);
