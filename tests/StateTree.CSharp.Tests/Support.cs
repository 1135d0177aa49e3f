using LanguageExt;

namespace StateTree.CSharp.Tests;

/// <summary>A user-defined variable type: the library must keep it through WithValue/WithMetadata with no code here.</summary>
public class MyParam : Param
{
    public MyParam(object? value) : base(value) { }
}

/// <summary>A subclass of a user subclass, to check that type filters follow the whole chain.</summary>
public sealed class MyLoraParam : MyParam
{
    public MyLoraParam(object? value) : base(value) { }
}

/// <summary>A user subclass of a library type with a field of its own, which copies must keep.</summary>
public sealed class ScaledParam : Param
{
    public ScaledParam(object? value, double scale) : base(value) => Scale = scale;

    public double Scale { get; }
}

/// <summary>Builders for the states the tests share; each call returns a fresh instance.</summary>
public static class Models
{
    /// <summary>Shorthand for a nested dictionary literal, the form State.Create reads as sub-states.</summary>
    public sealed class Node : Dictionary<PathKey, object?> { }

    /// <summary>
    /// The Flax documentation's model state: a BatchNorm (bias, scale, mean, var) and a Linear (bias, kernel).
    /// </summary>
    public static State BatchNormLinear() => State.Create(new Node
    {
        ["batchnorm"] = new Node
        {
            ["bias"] = new Param(new float[] { 0, 0, 0 }),
            ["scale"] = new Param(new float[] { 1, 1, 1 }),
            ["mean"] = new BatchStat(new float[] { 0, 0, 0 }),
            ["var"] = new BatchStat(new float[] { 1, 1, 1 }),
        },
        ["linear"] = new Node
        {
            ["bias"] = new Param(new float[] { 0, 0 }),
            ["kernel"] = new Param(new float[] { 0.5f, -0.5f, 0.25f, 1.5f, 2, -1 }),
        },
    });

    /// <summary>The Params of <see cref="BatchNormLinear"/>, written by hand.</summary>
    public static State BatchNormLinearParams() => State.Create(new Node
    {
        ["batchnorm"] = new Node
        {
            ["bias"] = new Param(new float[] { 0, 0, 0 }),
            ["scale"] = new Param(new float[] { 1, 1, 1 }),
        },
        ["linear"] = new Node
        {
            ["bias"] = new Param(new float[] { 0, 0 }),
            ["kernel"] = new Param(new float[] { 0.5f, -0.5f, 0.25f, 1.5f, 2, -1 }),
        },
    });

    /// <summary>The BatchStats of <see cref="BatchNormLinear"/>, written by hand.</summary>
    public static State BatchNormLinearStats() => State.Create(new Node
    {
        ["batchnorm"] = new Node
        {
            ["mean"] = new BatchStat(new float[] { 0, 0, 0 }),
            ["var"] = new BatchStat(new float[] { 1, 1, 1 }),
        },
    });

    /// <summary>A list of layers, keyed by int, as Flax's nnx.List stores them.</summary>
    public static State Layers() => State.Create(new Node
    {
        [0] = new Node { ["kernel"] = new Param(1) },
        [1] = new Node { ["kernel"] = new Param(2) },
    });

    /// <summary>A state holding a path at the given depth: k0/k1/…/leaf.</summary>
    public static State Deep(int depth, object? leaf)
    {
        var path = new PathKey[depth];
        for (var i = 0; i < depth; i++)
            path[i] = i % 2 == 0 ? (PathKey)$"k{i}" : i;
        return State.Empty.SetItem(KeyPath.Of(path), leaf);
    }

    public static KeyPath DeepPath(int depth)
    {
        var path = new PathKey[depth];
        for (var i = 0; i < depth; i++)
            path[i] = i % 2 == 0 ? (PathKey)$"k{i}" : i;
        return KeyPath.Of(path);
    }
}

/// <summary>Reading LanguageExt validations in assertions.</summary>
public static class V
{
    public static StateError[] Errors<T>(Validation<StateError, T> v) =>
        v.Match(Succ: _ => throw new Xunit.Sdk.XunitException("expected a failure, got a success"), Fail: errs => errs.ToArray());

    public static T Value<T>(Validation<StateError, T> v) =>
        v.Match(Succ: x => x, Fail: errs => throw new Xunit.Sdk.XunitException(
            "expected a success, got:\n" + string.Join("\n", errs.Map(e => $"{e.Message} at {e.At}"))));
}

/// <summary>Runs code on a thread with a small stack, so recursion proportional to depth shows up.</summary>
public static class SmallStack
{
    public const int OneMegabyte = 1024 * 1024;

    public static T Run<T>(Func<T> f, int stackSize = OneMegabyte)
    {
        T result = default!;
        Exception? error = null;
        var t = new Thread(() =>
        {
            try { result = f(); }
            catch (Exception e) { error = e; }
        }, stackSize);
        t.Start();
        t.Join();
        if (error is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        return result;
    }
}
