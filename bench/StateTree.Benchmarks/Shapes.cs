namespace StateTree.Benchmarks;

/// <summary>
/// The model shapes of issue 3, each generated from a fixed seed as a flat list of (path, leaf) in
/// generation order, so the StateTree state and the naive dictionary tree hold the same leaf instances.
/// </summary>
public static class Shapes
{
    public const string Mlp = "mlp";
    public const string Transformer = "transformer";
    public const string Moe = "moe";
    public const string Synthetic100K = "synthetic-100k";
    public const string Synthetic1M = "synthetic-1M";

    /// <summary>Every shape, smallest first.</summary>
    public static readonly string[] All = [Mlp, Transformer, Moe, Synthetic100K, Synthetic1M];

    /// <summary>
    /// Leaf counts by construction; <c>Generate</c> checks them, and the chart program (which
    /// links this file) uses them as the x axis.
    /// </summary>
    public static int LeafCount(string shape) => shape switch
    {
        Mlp => 10,
        Transformer => 12 * 16 + 5,
        Moe => 64 * (64 * 3 + 1),
        Synthetic100K => SyntheticLayers(shape) * 32 + 2,
        Synthetic1M => SyntheticLayers(shape) * 32 + 2,
        _ => throw new ArgumentException($"Unknown shape '{shape}'; known: {string.Join(", ", All)}.", nameof(shape)),
    };

    /// <summary>The top-level key whose sub-tree holds almost every leaf (the sub-tree-reuse cases split on it).</summary>
    public static string BulkKey(string shape) => shape switch
    {
        Mlp => "linear0",
        Transformer => "blocks",
        _ => "layers",
    };

    private static int SyntheticLayers(string shape) => shape == Synthetic1M ? 31_250 : 3_125;

#if !BENCH_CHART
    /// <summary>
    /// The leaves of a shape with their paths. The same seed gives equal values; every call creates new
    /// leaf instances, which is how the Equals benchmark gets two equal, separately built states.
    /// </summary>
    public static List<(KeyPath Path, object? Leaf)> Generate(string shape, int seed = 42)
    {
        var g = new Generator(seed);
        switch (shape)
        {
            case Mlp:
                foreach (var layer in new[] { "linear0", "linear1" })
                {
                    g.Add(new Param(g.Next()), layer, "kernel");
                    g.Add(new Param(g.Next()), layer, "bias");
                }

                g.Add(new Param(g.Next()), "batchnorm", "scale");
                g.Add(new Param(g.Next()), "batchnorm", "bias");
                g.Add(new BatchStat(g.Next()), "batchnorm", "mean");
                g.Add(new BatchStat(g.Next()), "batchnorm", "var");
                g.Add(new RngCount(g.Next()), "rngs", "dropout", "count");
                g.Add(new RngKey(g.Next()), "rngs", "dropout", "key");
                break;

            case Transformer:
                g.Add(new Param(g.Next()), "embed", "token", "embedding");
                g.Add(new Param(g.Next()), "embed", "position", "embedding");
                for (var b = 0; b < 12; b++)
                {
                    foreach (var proj in new[] { "q", "k", "v", "out" })
                    {
                        g.Add(new Param(g.Next()), "blocks", b, "attn", proj, "kernel");
                        g.Add(new Param(g.Next()), "blocks", b, "attn", proj, "bias");
                    }

                    foreach (var norm in new[] { "ln1", "ln2" })
                    {
                        g.Add(new Param(g.Next()), "blocks", b, norm, "scale");
                        g.Add(new Param(g.Next()), "blocks", b, norm, "bias");
                    }

                    foreach (var fc in new[] { "fc1", "fc2" })
                    {
                        g.Add(new Param(g.Next()), "blocks", b, "mlp", fc, "kernel");
                        g.Add(new Param(g.Next()), "blocks", b, "mlp", fc, "bias");
                    }
                }

                g.Add(new Param(g.Next()), "final_ln", "scale");
                g.Add(new Param(g.Next()), "final_ln", "bias");
                g.Add(new RngCount(g.Next()), "rngs", "dropout", "count");
                break;

            case Moe:
                // Each expert: two weight matrices (Param) and its routing load (BatchStat); one router per layer.
                for (var l = 0; l < 64; l++)
                {
                    g.Add(new Param(g.Next()), "layers", l, "router", "kernel");
                    for (var e = 0; e < 64; e++)
                    {
                        g.Add(new Param(g.Next()), "layers", l, "experts", e, "w_in");
                        g.Add(new Param(g.Next()), "layers", l, "experts", e, "w_out");
                        g.Add(new BatchStat(g.Next()), "layers", l, "experts", e, "load");
                    }
                }

                break;

            case Synthetic100K or Synthetic1M:
                // Issue 3's synthetic-N: 'w0'..'w31' spread four to a block over 'block0'..'block7';
                // leaf j is an RngCount when j % 8 == 0, a BatchStat when j % 4 == 0 otherwise, else a Param.
                var names = Enumerable.Range(0, 32).Select(j => "w" + j).ToArray();
                var blocks = Enumerable.Range(0, 8).Select(b => "block" + b).ToArray();
                for (var l = 0; l < SyntheticLayers(shape); l++)
                {
                    for (var j = 0; j < 32; j++)
                    {
                        var value = g.Next();
                        Variable leaf = j % 8 == 0 ? new RngCount(value) : j % 4 == 0 ? new BatchStat(value) : new Param(value);
                        g.Add(leaf, "layers", l, blocks[j / 4], names[j]);
                    }
                }

                g.Add(new Param(g.Next()), "head", "kernel");
                g.Add(new Param(g.Next()), "head", "bias");
                break;

            default:
                throw new ArgumentException($"Unknown shape '{shape}'; known: {string.Join(", ", All)}.", nameof(shape));
        }

        if (g.Leaves.Count != LeafCount(shape))
            throw new InvalidOperationException($"Shape {shape} has {g.Leaves.Count} leaves, expected {LeafCount(shape)}.");
        return g.Leaves;
    }

    private sealed class Generator(int seed)
    {
        private readonly Random random = new(seed);

        // Paths share their prefixes, as they do in a flattened state, so a shape costs little memory to hold.
        private readonly Dictionary<(KeyPath, PathKey), KeyPath> interned = [];

        public List<(KeyPath Path, object? Leaf)> Leaves { get; } = [];

        public double Next() => random.NextDouble();

        public void Add(object leaf, params PathKey[] keys)
        {
            var path = KeyPath.Empty;
            foreach (var key in keys)
            {
                if (!interned.TryGetValue((path, key), out var next))
                    interned[(path, key)] = next = path.Append(key);
                path = next;
            }

            Leaves.Add((path, leaf));
        }
    }
#endif
}
