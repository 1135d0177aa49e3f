using CoreError = StateTree.FSharp.StateError;
using CoreState = StateTree.FSharp.State;
using Ops = StateTree.FSharp.StateModule;

namespace StateTree;

public sealed partial class State
{
    private static readonly string[] OneFilter = ["filter"];
    private static readonly string[] TwoFilters = ["first", "second"];
    private static readonly string[] ThreeFilters = ["first", "second", "third"];
    private static readonly string[] ManyFilters = ["filters"];

    // ---- Filter (Flax filter_state) --------------------------------------------------------

    /// <summary>
    /// The leaves that match <paramref name="filter"/>, in a state pruned of everything else (empty
    /// sub-states dropped). Returns this very instance when every leaf matches and there is no empty
    /// sub-state. O(n).
    /// </summary>
    /// <param name="filter">The filter.</param>
    /// <returns>The matching part.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="filter"/> is null.</exception>
    public State Filter(Filter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return Same(Ops.Filter(filter.Core, core));
    }

    /// <summary>
    /// One state per filter: each leaf, in path order, goes to the first filter that matches it; leaves
    /// that match neither are dropped. O(n · filters).
    /// </summary>
    /// <param name="first">The first filter.</param>
    /// <param name="second">The second filter.</param>
    /// <returns>The two groups (either may be <see cref="Empty"/>).</returns>
    /// <exception cref="ArgumentNullException">A filter is null.</exception>
    /// <exception cref="ArgumentException"><see cref="StateTree.Filter.Everything"/> is not in a trailing position.</exception>
    public (State, State) Filter(Filter first, Filter second)
    {
        var g = Partition(false, first, second);
        return (g[0], g[1]);
    }

    /// <summary>
    /// One state per filter: each leaf, in path order, goes to the first filter that matches it; leaves
    /// that match none are dropped. O(n · filters).
    /// </summary>
    /// <param name="first">The first filter.</param>
    /// <param name="second">The second filter.</param>
    /// <param name="third">The third filter.</param>
    /// <returns>The three groups (any may be <see cref="Empty"/>).</returns>
    /// <exception cref="ArgumentNullException">A filter is null.</exception>
    /// <exception cref="ArgumentException"><see cref="StateTree.Filter.Everything"/> is not in a trailing position.</exception>
    public (State, State, State) Filter(Filter first, Filter second, Filter third)
    {
        var g = Partition(false, first, second, third);
        return (g[0], g[1], g[2]);
    }

    /// <summary>
    /// One state per filter: each leaf, in path order, goes to the first filter that matches it; leaves
    /// that match none are dropped. O(n · filters).
    /// </summary>
    /// <param name="filters">At least one filter.</param>
    /// <returns>One group per filter, in order (any may be <see cref="Empty"/>).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="filters"/> or one of its elements is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="filters"/> is empty, or <see cref="StateTree.Filter.Everything"/> is not in a trailing position.
    /// </exception>
    public IReadOnlyList<State> Filter(params Filter[] filters) =>
        Groups(FSharpInterop.Partition(core, filters, nameof(filters), false).OrThrow(e => ParamName(e, ManyFilters)));

    /// <summary>The leaves whose value is a <typeparamref name="T"/> (or a subclass): <c>Filter(Filter.OfType&lt;T&gt;())</c>.</summary>
    /// <typeparam name="T">The leaf type, usually a <see cref="Variable"/> subclass.</typeparam>
    /// <returns>The matching part.</returns>
    public State OfType<T>() => Filter(global::StateTree.Filter.OfType<T>());

    // ---- Split (Flax split_state) ----------------------------------------------------------

    /// <summary>
    /// As <see cref="Filter(StateTree.Filter)"/>, but every leaf must match: returns this very instance
    /// when it does and there is no empty sub-state.
    /// </summary>
    /// <param name="filter">The filter, usually <see cref="StateTree.Filter.Everything"/>.</param>
    /// <returns>The single group.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="filter"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// A leaf matches no filter: <c>Non-exhaustive filters, got a non-empty remainder: …</c>.
    /// </exception>
    public State Split(Filter filter) => Partition(true, filter)[0];

    /// <summary>
    /// Splits the leaves into one state per filter (each leaf to the first filter that matches it);
    /// every leaf must match some filter. <c>State.Merge</c> of the groups gives back the state.
    /// O(n · filters); whole sub-trees that go to one group are shared with it.
    /// </summary>
    /// <param name="first">The first filter.</param>
    /// <param name="second">The second filter.</param>
    /// <returns>The two groups.</returns>
    /// <exception cref="ArgumentNullException">A filter is null.</exception>
    /// <exception cref="ArgumentException">
    /// A leaf matches no filter (<c>Non-exhaustive filters, got a non-empty remainder: …</c>), or
    /// <see cref="StateTree.Filter.Everything"/> is not in a trailing position.
    /// </exception>
    public (State, State) Split(Filter first, Filter second)
    {
        var g = Partition(true, first, second);
        return (g[0], g[1]);
    }

    /// <inheritdoc cref="Split(StateTree.Filter, StateTree.Filter)"/>
    /// <param name="first">The first filter.</param>
    /// <param name="second">The second filter.</param>
    /// <param name="third">The third filter.</param>
    /// <returns>The three groups.</returns>
    public (State, State, State) Split(Filter first, Filter second, Filter third)
    {
        var g = Partition(true, first, second, third);
        return (g[0], g[1], g[2]);
    }

    /// <inheritdoc cref="Split(StateTree.Filter, StateTree.Filter)"/>
    /// <param name="filters">At least one filter.</param>
    /// <returns>One group per filter, in order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="filters"/> or one of its elements is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="filters"/> is empty, a leaf matches no filter, or <see cref="StateTree.Filter.Everything"/>
    /// is not in a trailing position.
    /// </exception>
    public IReadOnlyList<State> Split(params Filter[] filters) =>
        Groups(FSharpInterop.Partition(core, filters, nameof(filters), true).OrThrow(e => ParamName(e, ManyFilters)));

    // ---- Merge (Flax merge_state) ----------------------------------------------------------

    /// <summary>
    /// The union by full path; on a shared path the later state wins, leaf or sub-tree. Inputs with no
    /// children are ignored; when one input remains, it is returned itself. O(n); sub-trees that only
    /// one input has are shared.
    /// </summary>
    /// <param name="first">The first state.</param>
    /// <param name="rest">The later states.</param>
    /// <returns>The merged state.</returns>
    /// <exception cref="ArgumentNullException">A state is null.</exception>
    public static State Merge(State first, params State[] rest) => Merge(MergeConflict.LastWins, first, rest);

    /// <summary>
    /// The union by full path, with a conflict policy. <see cref="MergeConflict.LastWins"/>: the later
    /// state wins on a shared path. <see cref="MergeConflict.Error"/>: every path that is a leaf in one
    /// input and a leaf or sub-tree in another is an error (equal values too).
    /// </summary>
    /// <param name="conflict">The conflict policy.</param>
    /// <param name="first">The first state.</param>
    /// <param name="rest">The later states.</param>
    /// <returns>The merged state.</returns>
    /// <exception cref="ArgumentNullException">A state is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="conflict"/> is not a defined value.</exception>
    /// <exception cref="ArgumentException">
    /// <see cref="MergeConflict.Error"/> and some paths conflict; the message lists each once.
    /// </exception>
    public static State Merge(MergeConflict conflict, State first, params State[] rest)
    {
        var inputs = Inputs(conflict, first, rest);
        return Pick(FSharpInterop.Merge(conflict, Cores(inputs)).OrThrow(nameof(rest)), inputs);
    }

    /// <summary>The union by full path of a sequence of states, the later winning (for the groups of a split).</summary>
    /// <param name="states">The states, earliest first; none gives <see cref="Empty"/>.</param>
    /// <returns>The merged state.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="states"/> or one of its elements is null.</exception>
    public static State Merge(IEnumerable<State> states) => Merge(MergeConflict.LastWins, states);

    /// <summary>The union by full path of a sequence of states, with a conflict policy.</summary>
    /// <param name="conflict">The conflict policy.</param>
    /// <param name="states">The states, earliest first; none gives <see cref="Empty"/>.</param>
    /// <returns>The merged state.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="states"/> or one of its elements is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="conflict"/> is not a defined value.</exception>
    /// <exception cref="ArgumentException">
    /// <see cref="MergeConflict.Error"/> and some paths conflict; the message lists each once.
    /// </exception>
    public static State Merge(MergeConflict conflict, IEnumerable<State> states)
    {
        var inputs = Inputs(conflict, states);
        return Pick(FSharpInterop.Merge(conflict, Cores(inputs)).OrThrow(nameof(states)), inputs);
    }

    /// <summary><c>State.Merge(a, b)</c>: the union, <paramref name="b"/> winning on shared paths.</summary>
    /// <param name="a">The earlier state.</param>
    /// <param name="b">The later state.</param>
    /// <returns>The merged state.</returns>
    /// <exception cref="ArgumentNullException">A state is null.</exception>
    public static State operator |(State a, State b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return Merge(a, b);
    }

    // ---- Diff ------------------------------------------------------------------------------

    /// <summary>
    /// The leaves of this state whose exact path is not a leaf path of <paramref name="other"/>; values
    /// are ignored, and a leaf of <paramref name="other"/> at a prefix path removes nothing. Empty
    /// sub-states are dropped, except that an <paramref name="other"/> with no children gives this very
    /// instance. O(n).
    /// </summary>
    /// <param name="other">The state whose leaf paths to remove.</param>
    /// <returns>The difference.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="other"/> is null.</exception>
    public State Diff(State other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Same(Ops.Diff(other.core, core));
    }

    /// <summary><c>a.Diff(b)</c>.</summary>
    /// <param name="a">The state to take leaves from.</param>
    /// <param name="b">The state whose leaf paths to remove.</param>
    /// <returns>The difference.</returns>
    /// <exception cref="ArgumentNullException">A state is null.</exception>
    public static State operator -(State a, State b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return a.Diff(b);
    }

    // ---- Map, Zip, LINQ --------------------------------------------------------------------

    /// <summary>A state with the same paths and <paramref name="f"/> applied to every leaf (Flax's <c>map_state</c>). O(n).</summary>
    /// <param name="f">The new leaf, from the leaf's path and value.</param>
    /// <returns>The mapped state (empty sub-states dropped).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    public State Map(Func<KeyPath, object?, object?> f)
    {
        ArgumentNullException.ThrowIfNull(f);
        return Same(FSharpInterop.Map(core, f));
    }

    /// <summary>
    /// <paramref name="f"/> over the leaves at the same paths of two states (JAX's
    /// <c>tree.map(f, params, grads)</c>). O(n).
    /// </summary>
    /// <param name="a">The first state.</param>
    /// <param name="b">The second state, with the same leaf paths.</param>
    /// <param name="f">The new leaf, from the two leaves.</param>
    /// <returns>The zipped state.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The leaf paths differ; the message lists each path only one state has.</exception>
    public static State Zip(State a, State b, Func<object?, object?, object?> f)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(f);
        return Wrap(FSharpInterop.Zip(a.core, b.core, f).OrThrow(nameof(b)));
    }

    /// <summary>
    /// The leaves for which <paramref name="predicate"/> holds, pruned like <see cref="Filter(StateTree.Filter)"/>
    /// (LINQ's <c>where</c> clause: <c>from leaf in state where leaf is Param select leaf</c>). O(n).
    /// </summary>
    /// <param name="predicate">The test on a leaf.</param>
    /// <returns>The matching part.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="predicate"/> is null.</exception>
    public State Where(Func<object?, bool> predicate)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        return Same(FSharpInterop.Where(core, predicate));
    }

    /// <summary>A state with the same paths and <paramref name="selector"/> applied to every leaf (LINQ's <c>select</c> clause). O(n).</summary>
    /// <param name="selector">The new leaf, from the leaf.</param>
    /// <returns>The mapped state (empty sub-states dropped).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="selector"/> is null.</exception>
    public State Select(Func<object?, object?> selector)
    {
        ArgumentNullException.ThrowIfNull(selector);
        return Same(FSharpInterop.Select(core, selector));
    }

    // ---- helpers ---------------------------------------------------------------------------

    private State[] Partition(bool exhaustive, Filter first, Filter second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        return Groups(FSharpInterop.Partition(core, exhaustive, first.Core, second.Core).OrThrow(e => ParamName(e, TwoFilters)));
    }

    private State[] Partition(bool exhaustive, Filter first, Filter second, Filter third)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        ArgumentNullException.ThrowIfNull(third);
        return Groups(FSharpInterop.Partition(core, exhaustive, first.Core, second.Core, third.Core)
            .OrThrow(e => ParamName(e, ThreeFilters)));
    }

    private State[] Partition(bool exhaustive, Filter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return Groups(FSharpInterop.Partition(core, exhaustive, filter.Core).OrThrow(e => ParamName(e, OneFilter)));
    }

    private State[] Groups(CoreState[] groups)
    {
        var result = new State[groups.Length];
        for (var i = 0; i < groups.Length; i++)
            result[i] = Same(groups[i]);
        return result;
    }

    /// <summary>
    /// The parameter an error points at: the misplaced <c>Filter.Everything</c>, else the last filter
    /// (a non-exhaustive split wants one more filter at the end).
    /// </summary>
    private static string ParamName(CoreError error, string[] names) =>
        names.Length > 1 && error is CoreError.EverythingNotLast e && e.index < names.Length ? names[e.index] : names[^1];

    private static State[] Inputs(MergeConflict conflict, State first, State[] rest)
    {
        CheckConflict(conflict);
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(rest);
        var inputs = new State[rest.Length + 1];
        inputs[0] = first;
        for (var i = 0; i < rest.Length; i++)
            inputs[i + 1] = rest[i] ?? throw new ArgumentNullException(nameof(rest), $"The state at index {i} is null.");
        return inputs;
    }

    private static State[] Inputs(MergeConflict conflict, IEnumerable<State> states)
    {
        CheckConflict(conflict);
        ArgumentNullException.ThrowIfNull(states);
        var inputs = states.ToArray();
        for (var i = 0; i < inputs.Length; i++)
        {
            if (inputs[i] is null)
                throw new ArgumentNullException(nameof(states), $"The state at index {i} is null.");
        }

        return inputs;
    }

    private static void CheckConflict(MergeConflict conflict)
    {
        if (conflict is not (MergeConflict.LastWins or MergeConflict.Error))
            throw new ArgumentOutOfRangeException(nameof(conflict), conflict, "Not a defined MergeConflict value.");
    }

    private static CoreState[] Cores(State[] states)
    {
        var cores = new CoreState[states.Length];
        for (var i = 0; i < states.Length; i++)
            cores[i] = states[i].core;
        return cores;
    }

    /// <summary>The input whose core the merge handed back (a single non-empty input), else a new wrapper.</summary>
    private static State Pick(CoreState merged, State[] inputs)
    {
        foreach (var s in inputs)
        {
            if (ReferenceEquals(s.core, merged))
                return s;
        }

        return Wrap(merged);
    }
}
