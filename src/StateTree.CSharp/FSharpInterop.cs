using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using CoreError = StateTree.FSharp.StateError;
using CoreFilter = StateTree.FSharp.Filter;
using CoreState = StateTree.FSharp.State;
using FilterOps = StateTree.FSharp.FilterModule;
using Ops = StateTree.FSharp.StateModule;
using ReplaceOptions = StateTree.FSharp.ReplaceOptions;

namespace StateTree;

/// <summary>
/// The only place that touches FSharp.Core types (lists, options, results, F# functions): every core
/// call whose signature holds one goes through here, so the rest of the facade is plain C# and a
/// change in the core's F# idioms lands in this file alone.
/// </summary>
internal static class FSharpInterop
{
    // A default replace needs no closure, and the option records are immutable: build them once.
    private static readonly ReplaceOptions Lenient = new(null, false);
    private static readonly ReplaceOptions Strict = new(null, true);

    // ---- filters ---------------------------------------------------------------------------

    public static CoreFilter Any(Filter[] filters, string paramName) => FilterOps.Any(List(filters, paramName));

    public static CoreFilter All(Filter[] filters, string paramName) => FilterOps.All(List(filters, paramName));

    // ---- reading ---------------------------------------------------------------------------

    /// <summary>The sub-state or leaf under a key, when there is one.</summary>
    public static FSharp.Child? TryFind(CoreState state, PathKey key) => Ops.TryFind(key, state)?.Value;

    /// <summary>The entry at a path (the root itself for the empty path), when there is one.</summary>
    public static FSharp.Child? TryFindPath(CoreState state, KeyPath path) => Ops.TryFindPath(path, state)?.Value;

    // ---- operations ------------------------------------------------------------------------

    public static CoreResult<CoreState> OfFlat(IEnumerable<(KeyPath, object?)> pairs) => Result(Ops.OfFlat(pairs));

    /// <summary>Filter or Split (<paramref name="exhaustive"/>) by several filters: one group per filter.</summary>
    public static CoreResult<CoreState[]> Partition(CoreState state, Filter[] filters, string paramName, bool exhaustive) =>
        Partition(state, List(filters, paramName), exhaustive);

    public static CoreResult<CoreState[]> Partition(CoreState state, bool exhaustive, params ReadOnlySpan<CoreFilter> filters)
    {
        var list = FSharpList<CoreFilter>.Empty;
        for (var i = filters.Length - 1; i >= 0; i--)
            list = FSharpList<CoreFilter>.Cons(filters[i], list);
        return Partition(state, list, exhaustive);
    }

    private static CoreResult<CoreState[]> Partition(CoreState state, FSharpList<CoreFilter> filters, bool exhaustive)
    {
        var result = exhaustive ? Ops.Split(filters, state) : Ops.FilterMany(filters, state);
        return result.IsOk ? new(ListModule.ToArray(result.ResultValue)) : new(Errors(result.ErrorValue));
    }

    public static CoreResult<CoreState> Merge(MergeConflict conflict, CoreState[] states) =>
        Result(Ops.MergeWith(conflict, ListModule.OfArray(states)));

    public static CoreState Map(CoreState state, Func<KeyPath, object?, object?> f) =>
        Ops.Map(FuncConvert.FromFunc(f), state);

    public static CoreState Select(CoreState state, Func<object?, object?> f) => Ops.Select(FuncConvert.FromFunc(f), state);

    public static CoreState Where(CoreState state, Func<object?, bool> predicate) =>
        Ops.Where(FuncConvert.FromFunc(predicate), state);

    public static CoreResult<CoreState> Zip(CoreState a, CoreState b, Func<object?, object?, object?> f) =>
        Result(Ops.Zip(FuncConvert.FromFunc(f), a, b));

    public static Dictionary<object, object?> ToPureDict(CoreState state, Func<object?, object?>? extract) =>
        extract is null ? Ops.ToPureDict(state) : Ops.ToPureDictWith(FuncConvert.FromFunc(extract), state);

    public static CoreResult<CoreState> ReplaceByPureDict(
        CoreState state, object pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        var options = replace is null
            ? strict ? Strict : Lenient
            : new ReplaceOptions(FSharpOption<FSharpFunc<object?, FSharpFunc<object?, object?>>>.Some(FuncConvert.FromFunc(replace)), strict);
        return Result(Ops.ReplaceByPureDictWith(options, pureDict, state));
    }

    public static CoreResult<Dictionary<object, object?>> RestoreIntPaths(object pureDict, CoreState? template) =>
        Result(template is null ? Ops.RestoreIntPaths(pureDict) : Ops.RestoreIntPathsLike(template, pureDict));

    // ---- errors ----------------------------------------------------------------------------

    public static StateError Error(CoreError error) => new(error.Message, error.Path?.Value);

    // ---- conversions -----------------------------------------------------------------------

    private static FSharpList<CoreFilter> List(Filter[] filters, string paramName)
    {
        ArgumentNullException.ThrowIfNull(filters, paramName);
        var list = FSharpList<CoreFilter>.Empty;
        for (var i = filters.Length - 1; i >= 0; i--)
        {
            var f = filters[i] ?? throw new ArgumentNullException(paramName, $"The filter at index {i} is null.");
            list = FSharpList<CoreFilter>.Cons(f.Core, list);
        }

        return list;
    }

    private static CoreResult<T> Result<T>(FSharpResult<T, FSharpList<CoreError>> result) =>
        result.IsOk ? new(result.ResultValue) : new(Errors(result.ErrorValue));

    private static CoreError[] Errors(FSharpList<CoreError> errors) => ListModule.ToArray(errors);
}
