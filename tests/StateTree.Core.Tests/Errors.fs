/// Error paths: the exact messages of SPEC §4.3, every problem reported, the Result/exception contract.
module StateTree.Core.Tests.Errors

open System
open System.Collections.Generic
open Xunit
open StateTree
open StateTree.FSharp
open StateTree.Core.Tests.ReferenceModel

let private path (keys: obj list) =
    KeyPath.OfSeq
        [ for k in keys ->
              match k with
              | :? int as i -> PathKey.FromIndex i
              | k -> PathKey.FromName(string k) ]

let private errorsOf (r: Result<'T, StateError list>) =
    match r with
    | Error errors -> errors
    | Ok x -> failwith $"expected errors, got %A{x}"

let private messagesOf r =
    errorsOf r |> List.map (fun (e: StateError) -> e.Message)

let private model () =
    State.ofList
        [ "layers"
          => State.ofList
              [ 0 => State.ofList [ "kernel" => Param 1.0; "bias" => Param 0.0 ]
                1 => State.ofList [ "kernel" => Param 2.0 ] ]
          "count" => BatchStat 3 ]

[<Fact>]
let ``a non-exhaustive split names the remainder in the SPEC's words`` () =
    let s = State.ofList [ "a" => Param 1; "b" => BatchStat 2 ]

    match State.split [ Filter.ofType<Param> ] s with
    | Error [ StateError.NonExhaustiveSplit remainder as e ] ->
        Assert.Equal(State.ofList [ "b" => BatchStat 2 ], remainder)

        Assert.Equal(
            "Non-exhaustive filters, got a non-empty remainder: State({\n  'b': BatchStat(\n    value=2\n  )\n}).\nUse Filter.Everything to match all remaining elements.",
            e.Message
        )

        Assert.Equal(None, e.Path)
    | other -> failwith $"%A{other}"

[<Fact>]
let ``Filter.Everything before the last positions is refused at every such index`` () =
    let s = State.ofList [ "a" => Param 1 ]

    let misplaced =
        [ Everything
          Filter.ofType<Param>
          Everything
          Nothing
          Everything
          Everything ]

    for result in [ State.split misplaced s; State.filterMany misplaced s ] do
        Assert.Equal<string list>(
            [ "Filter.Everything can only be used as the last filters, got it at index 0."
              "Filter.Everything can only be used as the last filters, got it at index 2." ],
            messagesOf result
        )

        Assert.Equal<StateError list>(
            [ StateError.EverythingNotLast 0; StateError.EverythingNotLast 2 ],
            errorsOf result
        )

    // Several trailing ones are fine; the extra groups are empty.
    match State.split [ Filter.ofType<BatchStat>; Everything; Everything ] s with
    | Ok [ none; all; extra ] ->
        Assert.Equal(State.empty, none)
        Assert.Same(s, all)
        Assert.Equal(State.empty, extra)
    | other -> failwith $"%A{other}"

[<Fact>]
let ``split and filterMany need at least one filter`` () =
    Assert.Throws<ArgumentException>(fun () -> State.split [] (model ()) |> ignore)
    |> ignore

    Assert.Throws<ArgumentException>(fun () -> State.filterMany [] (model ()) |> ignore)
    |> ignore

[<Fact>]
let ``replaceByPureDict lists every unknown path in Python tuple notation, keys as given`` () =
    let pure' = Dictionary<obj, obj | null>()
    let layers = Dictionary<obj, obj | null>()
    let five = Dictionary<obj, obj | null>()
    five.["kernel"] <- box 10.0
    let zero = Dictionary<obj, obj | null>()
    zero.["kernel"] <- box 11.0
    zero.["scale"] <- box 12.0
    let one = Dictionary<obj, obj | null>()
    one.["kernel"] <- box 13.0
    layers.["5"] <- box five
    layers.["0"] <- box zero
    layers.[1] <- box one
    layers.[7] <- box 14.0
    pure'.["layers"] <- box layers
    pure'.["extra"] <- box 15.0
    let deeper = Dictionary<obj, obj | null>()
    deeper.["deeper"] <- box 1
    pure'.["count"] <- box deeper

    let result = State.replaceByPureDict pure' (model ())

    // Every unknown path, one message each (the order is not part of the contract).
    Assert.Equal<string list>(
        [ "key in pure_dict not available in state: ('count', 'deeper')"
          "key in pure_dict not available in state: ('extra',)"
          "key in pure_dict not available in state: ('layers', '0', 'scale')"
          "key in pure_dict not available in state: ('layers', '5', 'kernel')"
          "key in pure_dict not available in state: ('layers', 7)" ],
        messagesOf result |> List.sort
    )

    let unknown =
        errorsOf result
        |> List.map (fun e ->
            match e with
            | StateError.UnknownPath keys -> keys
            | other -> failwith other.Message)

    Assert.Contains([ "layers" :> obj; 7 ], unknown)
    Assert.Contains([ "layers" :> obj; "5"; "kernel" ], unknown)

    let seven =
        errorsOf result |> List.find (fun e -> e.Message.EndsWith "('layers', 7)")

    Assert.Equal(Some(path [ "layers"; 7 ]), seven.Path)

[<Fact>]
let ``replaceByPureDict: a sub-state given a leaf is an unknown path, and a failing call changes nothing`` () =
    let s = model ()
    let before = s.ToString()
    let pure' = Dictionary<string, obj | null>()
    pure'.["layers"] <- box 1

    Assert.Equal<string list>(
        [ "key in pure_dict not available in state: ('layers',)" ],
        messagesOf (State.replaceByPureDict pure' s)
    )

    Assert.Equal(before, s.ToString())

[<Fact>]
let ``replaceByPureDict: "0" and 0 naming one child are an error`` () =
    let s = State.ofList [ 0 => Param 1 ]
    let pure' = Dictionary<obj, obj | null>()
    pure'.["0"] <- box 2
    pure'.[0] <- box 3

    match errorsOf (State.replaceByPureDict pure' s) with
    | [ StateError.DuplicateKey keys as e ] ->
        Assert.Equal<obj list>([ 0 :> obj ], keys)
        Assert.Contains("(0,)", e.Message)
    | other -> failwith $"%A{other}"

[<Fact>]
let ``strict replaceByPureDict lists every missing leaf`` () =
    let pure' = Dictionary<obj, obj | null>()
    pure'.["count"] <- box 4

    let result =
        State.replaceByPureDictWith { Replace = None; Strict = true } pure' (model ())

    Assert.Equal<StateError list>(
        [ StateError.MissingPath(path [ "layers"; 0; "bias" ])
          StateError.MissingPath(path [ "layers"; 0; "kernel" ])
          StateError.MissingPath(path [ "layers"; 1; "kernel" ]) ],
        errorsOf result |> List.sortBy (fun e -> e.Message)
    )

    Assert.All(messagesOf result, (fun m -> Assert.Contains("('layers', ", m)))

[<Fact>]
let ``strict replaceByPureDict: an empty sub-dict mentions no leaf`` () =
    // SPEC §4.6: empty sub-dicts are ignored, and strict fails on leaves the pure dict does not mention.
    let s = State.ofList [ "a" => Param 1; "b" => Param 2 ]
    let pure' = Dictionary<string, obj | null>()
    pure'.["a"] <- box (Dictionary<string, obj | null>())
    pure'.["b"] <- box 5

    Assert.Equal<StateError list>(
        [ StateError.MissingPath(path [ "a" ]) ],
        errorsOf (State.replaceByPureDictWith { Replace = None; Strict = true } pure' s)
    )

[<Fact>]
let ``merge conflicts list each path once`` () =
    let a =
        State.ofList [ "x" => 1; "y" => State.ofList [ "z" => 2 ]; "w" => State.empty ]

    let b = State.ofList [ "x" => 3; "y" => 4; "w" => 5 ]
    let c = State.ofList [ "x" => 6; "y" => State.ofList [ "z" => 7 ] ]

    let errors = errorsOf (State.mergeWith MergeConflict.Error [ a; b; c ])

    Assert.Equal<StateError list>(
        [ StateError.MergeConflictAt(path [ "x" ])
          StateError.MergeConflictAt(path [ "y" ])
          StateError.MergeConflictAt(path [ "y"; "z" ]) ],
        errors
    )

    Assert.Equal<string list>(
        [ "conflicting path in merge: ('x',)"
          "conflicting path in merge: ('y',)"
          "conflicting path in merge: ('y', 'z')" ],
        errors |> List.map (fun e -> e.Message)
    )

    // Equal values conflict too; an empty sub-state conflicts with nothing.
    Assert.Equal(
        1,
        (errorsOf (State.mergeWith MergeConflict.Error [ State.ofList [ "x" => 1 ]; State.ofList [ "x" => 1 ] ])).Length
    )

    Assert.Equal(
        Ok(State.ofList [ "x" => 1 ]),
        State.mergeWith MergeConflict.Error [ State.ofList [ "x" => 1 ]; State.ofList [ "x" => State.empty ] ]
    )

[<Fact>]
let ``restoreIntPaths reports string/int collisions with their path`` () =
    let inner = Dictionary<obj, obj | null>()
    inner.["1"] <- box "s"
    inner.[1] <- box "i"
    let d = Dictionary<obj, obj | null>()
    d.["0"] <- box 1
    d.[0] <- box 2
    d.["a"] <- box inner

    let errors = errorsOf (State.restoreIntPaths d)

    Assert.Equal<StateError list>(
        [ StateError.IntKeyCollision(path [ 0 ])
          StateError.IntKeyCollision(path [ "a"; 1 ]) ],
        errors
    )

    Assert.Contains("(0,)", errors.[0].Message)
    Assert.Contains("('a', 1)", errors.[1].Message)

[<Fact>]
let ``restoreIntPaths converts only canonical integers and drops empty sub-dicts`` () =
    let d = Dictionary<string, obj | null>()

    for k in
        [ "0"
          "17"
          "-3"
          "05"
          "+4"
          " 2 "
          "1_000"
          "1.5"
          "-0"
          "2147483648"
          "2147483647"
          "-2147483648" ] do
        d.[k] <- box k

    d.["empty"] <- box (Dictionary<string, obj | null>())

    match State.restoreIntPaths d with
    | Ok r ->
        let keys = [ for kv in r -> kv.Key ]

        Assert.Equal<obj list>(
            [ 0 :> obj
              17
              -3
              "05"
              "+4"
              " 2 "
              "1_000"
              "1.5"
              "-0"
              "2147483648"
              Int32.MaxValue
              Int32.MinValue ],
            keys
        )

        Assert.Equal(12, d.Count - 1)
        Assert.True(d.ContainsKey "0", "the input is not changed")
    | Error e -> failwith $"%A{e}"

[<Fact>]
let ``restoreIntPaths refuses keys that are neither ints nor strings, and non-dictionaries`` () =
    let d = Dictionary<obj, obj | null>()
    d.[1.5] <- box 1

    match errorsOf (State.restoreIntPaths d) with
    | [ StateError.InvalidPureDict(keys, _) ] -> Assert.Equal<obj list>([ 1.5 :> obj ], keys)
    | other -> failwith $"%A{other}"

    match errorsOf (State.restoreIntPaths (42 :> obj)) with
    | [ StateError.InvalidPureDict _ ] -> ()
    | other -> failwith $"%A{other}"

    match errorsOf (State.replaceByPureDict ("not a dict" :> obj) (model ())) with
    | [ StateError.InvalidPureDict _ ] -> ()
    | other -> failwith $"%A{other}"

[<Fact>]
let ``ofFlat names both paths of a leaf that is also a prefix, and refuses the empty path`` () =
    let a = path [ "a" ]
    let ab = path [ "a"; "b" ]

    for pairs in
        [ [ struct (a, box 1); struct (ab, box 2) ]
          [ struct (ab, box 2); struct (a, box 1) ] ] do
        match errorsOf (State.ofFlat pairs) with
        | [ StateError.LeafIsPrefix(leaf, other) as e ] ->
            Assert.True(a.Equals leaf)
            Assert.True(ab.Equals other)
            Assert.Contains("('a',)", e.Message)
            Assert.Contains("('a', 'b')", e.Message)
        | other -> failwith $"%A{other}"

    Assert.Equal<StateError list>([ StateError.EmptyPath ], errorsOf (State.ofFlat [ struct (KeyPath.Empty, box 1) ]))

    // A grafted state counts as its leaves: here one of them is below the leaf ('a',).
    let grafted = State.ofList [ "b" => 3 ]

    match errorsOf (State.ofFlat [ struct (a, box grafted); struct (a, box 1) ]) with
    | [ StateError.LeafIsPrefix(leaf, other) ] ->
        Assert.True(a.Equals leaf)
        Assert.True(ab.Equals other)
    | other -> failwith $"%A{other}"

[<Fact>]
let ``set refuses paths through a leaf and the empty path, naming the path`` () =
    let s = model ()

    let e =
        Assert.Throws<ArgumentException>(fun () -> State.set (path [ "count"; "x" ]) (box 1) s |> ignore)

    Assert.Contains("('count', 'x')", e.Message)
    Assert.Contains("('count',)", e.Message)

    Assert.Throws<ArgumentException>(fun () -> State.set KeyPath.Empty (box 1) s |> ignore)
    |> ignore

[<Fact>]
let ``zip lists the paths present in only one state`` () =
    let a = State.ofList [ "x" => 1; "y" => 2 ]
    let b = State.ofList [ "x" => 1; "z" => State.ofList [ "w" => 3 ] ]

    let errors = errorsOf (State.zip (fun x _ -> x) a b)

    Assert.Equal<StateError list>(
        [ StateError.ZipMismatch(path [ "y" ], true)
          StateError.ZipMismatch(path [ "z"; "w" ], false) ],
        errors |> List.sortBy (fun e -> e.Message)
    )

    Assert.Contains("('z', 'w')", errors |> List.map (fun e -> e.Message) |> String.concat "\n")

[<Fact>]
let ``misuse throws ArgumentNullException or ArgumentException naming the argument`` () =
    let nullString: string = Unchecked.defaultof<string>

    let e =
        Assert.Throws<ArgumentNullException>(fun () -> PathKey.FromName nullString |> ignore)

    Assert.Equal("name", e.ParamName)

    Assert.Throws<ArgumentNullException>(fun () -> Filter.withTag nullString |> ignore)
    |> ignore

    Assert.Throws<ArgumentNullException>(fun () -> Filter.pathMatches nullString |> ignore)
    |> ignore

    Assert.ThrowsAny<ArgumentException>(fun () -> Filter.pathMatches "(" |> ignore)
    |> ignore

    Assert.Throws<ArgumentNullException>(fun () ->
        State.replaceByPureDict (Unchecked.defaultof<obj>) (model ()) |> ignore)
    |> ignore

    Assert.Throws<ArgumentNullException>(fun () ->
        State.tryFindPath (Unchecked.defaultof<KeyPath>) (model ()) |> ignore)
    |> ignore

    Assert.Throws<ArgumentNullException>(fun () ->
        Variable(1, Unchecked.defaultof<IReadOnlyDictionary<string, obj | null>>)
        |> ignore)
    |> ignore

[<Fact>]
let ``PathMatches is a full match, even before a trailing newline`` () =
    // SPEC §3: PathMatches is a *full* match against the path text. A .NET `$` also matches before a
    // final newline, so an anchor of ^…$ accepts "a" for the text "a\n".
    let p = path [ "nl\n" ]
    Assert.False(Filter.matches (Filter.pathMatches "nl") p null, "'nl' must not fully match 'nl\\n'")

    Assert.False(
        Filter.matches (Filter.pathMatches ".*") p null,
        "'.*' must not fully match 'nl\\n' ('.' excludes newlines)"
    )

    Assert.True(Filter.matches (Filter.pathMatches "nl\n") p null)
    Assert.True(Filter.matches (Filter.pathMatches "(?s).*") p null)

[<Fact>]
let ``diff drops empty sub-states that the other state has too`` () =
    // SPEC §4.5: a flat operation (empty sub-states are dropped), except when other.Count = 0.
    let s = State.ofList [ 5 => State.empty; "x" => 1 ]
    let other = State.ofList [ 5 => State.empty ]
    Assert.Equal(State.ofList [ "x" => 1 ], State.diff other s)

    let nested = State.ofList [ "a" => State.ofList [ "b" => State.empty; "c" => 1 ] ]

    let otherNested =
        State.ofList [ "a" => State.ofList [ "b" => State.ofList [ "z" => 2 ] ] ]

    Assert.Equal(State.ofList [ "a" => State.ofList [ "c" => 1 ] ], State.diff otherNested nested)

[<Fact>]
let ``StateError paths and messages use Python tuple notation`` () =
    let p = path [ "layers"; 0; "it's" ]
    Assert.Equal("('layers', 0, 'it\\'s')", p.ToTupleString())
    Assert.Equal("('count',)", (path [ "count" ]).ToTupleString())
    Assert.Equal("()", KeyPath.Empty.ToTupleString())
    Assert.Equal(Some p, (StateError.MergeConflictAt p).Path)
    Assert.Equal(Some p, (StateError.ZipMismatch(p, true)).Path)
    Assert.Equal(None, StateError.EmptyPath.Path)
    Assert.Contains("()", StateError.EmptyPath.Message)

[<Fact>]
let ``a PathIn filter hashes without overflowing`` () =
    // Filter.GetHashCode sums the path hashes with checked arithmetic (Seq.sumBy), which throws
    // OverflowException when the sum leaves int's range: filters must hash (SPEC §3).
    let f =
        Filter.pathIn
            [ KeyPath.Of [| PathKey.FromIndex 2147483000 |]
              KeyPath.Of [| PathKey.FromIndex 2147483001 |] ]

    let g =
        Filter.pathIn
            [ KeyPath.Of [| PathKey.FromIndex 2147483001 |]
              KeyPath.Of [| PathKey.FromIndex 2147483000 |] ]

    Assert.Equal(f.GetHashCode(), g.GetHashCode())

[<Fact>]
let ``replaceByPureDict: a sub-dict holding only empty sub-dicts names no child`` () =
    // SPEC §4.6: the pure dict is taken leaf by leaf and empty sub-dicts are ignored, so {"x": {}}
    // mentions no leaf and cannot collide with the key 0; the result must not depend on key order.
    let s = State.ofList [ 0 => Param 1 ]

    let nestedEmpty () =
        let inner = Dictionary<obj, obj | null>()
        inner.["x"] <- box (Dictionary<obj, obj | null>())
        box inner

    let first = Dictionary<obj, obj | null>()
    first.[0] <- box 5
    first.["0"] <- nestedEmpty ()
    let second = Dictionary<obj, obj | null>()
    second.["0"] <- nestedEmpty ()
    second.[0] <- box 5
    let expected = Ok(State.ofList [ 0 => Param 5 ])
    Assert.Equal(expected, State.replaceByPureDict second s)
    Assert.Equal(expected, State.replaceByPureDict first s)

[<Fact>]
let ``strict replaceByPureDict reports a missing leaf once, even when an empty spelling of its key comes first`` () =
    // {"4": {0: {}}} mentions no leaf (SPEC §4.6: taken leaf by leaf), so only 4 -> 7 counts: a leaf
    // where the state has a sub-state (unknown), and strict mode misses (4, 0) once.
    let s = State.ofList [ 4 => State.ofList [ 0 => Param 1 ] ]
    let inner = Dictionary<obj, obj | null>()
    inner.[0] <- box (Dictionary<obj, obj | null>())
    let d = Dictionary<obj, obj | null>()
    d.["4"] <- box inner
    d.[4] <- box 7

    Assert.Equal<string list>(
        [ "key in pure_dict not available in state: (4,)"
          "key in state not available in pure_dict: (4, 0)" ],
        messagesOf (State.replaceByPureDictWith { Replace = None; Strict = true } d s)
        |> List.sort
    )
