using LanguageExt;

namespace StateTree;

// The Try… forms report failures on data as values carrying every problem; misuse (a null argument,
// no filter at all) still throws, as it does in the throwing forms.
public sealed partial class State
{
    /// <summary>
    /// <see cref="Split(StateTree.Filter)"/> that reports failures as values: a non-exhaustive split is
    /// one <see cref="StateError"/>.
    /// </summary>
    /// <param name="filter">The filter.</param>
    /// <returns>The single group, or the problems.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="filter"/> is null.</exception>
    public Validation<StateError, State> TrySplit(Filter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return FSharpInterop.Partition(core, true, filter.Core).ToValidation(g => Same(g[0]));
    }

    /// <summary>
    /// <see cref="Split(StateTree.Filter, StateTree.Filter)"/> that reports failures as values: each misplaced
    /// <see cref="StateTree.Filter.Everything"/> and a non-exhaustive split is one <see cref="StateError"/>.
    /// </summary>
    /// <param name="first">The first filter.</param>
    /// <param name="second">The second filter.</param>
    /// <returns>The two groups, or every problem.</returns>
    /// <exception cref="ArgumentNullException">A filter is null.</exception>
    public Validation<StateError, (State, State)> TrySplit(Filter first, Filter second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        return FSharpInterop.Partition(core, true, first.Core, second.Core).ToValidation(g => (Same(g[0]), Same(g[1])));
    }

    /// <inheritdoc cref="TrySplit(StateTree.Filter, StateTree.Filter)"/>
    /// <param name="first">The first filter.</param>
    /// <param name="second">The second filter.</param>
    /// <param name="third">The third filter.</param>
    /// <returns>The three groups, or every problem.</returns>
    public Validation<StateError, (State, State, State)> TrySplit(Filter first, Filter second, Filter third)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        ArgumentNullException.ThrowIfNull(third);
        return FSharpInterop.Partition(core, true, first.Core, second.Core, third.Core)
            .ToValidation(g => (Same(g[0]), Same(g[1]), Same(g[2])));
    }

    /// <inheritdoc cref="TrySplit(StateTree.Filter, StateTree.Filter)"/>
    /// <param name="filters">At least one filter.</param>
    /// <returns>One group per filter, or every problem.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="filters"/> or one of its elements is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="filters"/> is empty.</exception>
    public Validation<StateError, IReadOnlyList<State>> TrySplit(params Filter[] filters) =>
        FSharpInterop.Partition(core, filters, nameof(filters), true).ToValidation<IReadOnlyList<State>>(Groups);

    /// <summary>
    /// <see cref="Merge(MergeConflict, State, State[])"/> that reports failures as values: with
    /// <see cref="MergeConflict.Error"/>, each conflicting path is one <see cref="StateError"/>.
    /// </summary>
    /// <param name="conflict">The conflict policy.</param>
    /// <param name="first">The first state.</param>
    /// <param name="rest">The later states.</param>
    /// <returns>The merged state, or every conflicting path.</returns>
    /// <exception cref="ArgumentNullException">A state is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="conflict"/> is not a defined value.</exception>
    public static Validation<StateError, State> TryMerge(MergeConflict conflict, State first, params State[] rest)
    {
        var inputs = Inputs(conflict, first, rest);
        return FSharpInterop.Merge(conflict, Cores(inputs)).ToValidation(merged => Pick(merged, inputs));
    }
}
