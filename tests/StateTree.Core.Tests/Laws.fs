/// The laws of SPEC §1 and §4 as properties. Each law is a plain function too, so that
/// SmallSizes can run it at every size from 1 to 12.
module StateTree.Core.Tests.Laws

open System
open System.Collections.Generic
open System.Text.Json
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open StateTree
open StateTree.FSharp
open StateTree.Core.Tests.ReferenceModel

let private leafPathSet (s: State) =
    (ofState s).Leaves |> Map.toSeq |> Seq.map fst |> Set.ofSeq

/// True when no node has an int key n and the string key "n" side by side (stringifying would merge them).
let noSiblingClash (s: State) =
    let m = ofState s

    let nodes =
        []
        :: [ for p in entryPaths m do
                 for n in 1 .. p.Length -> List.take n p ]
        |> List.distinct
        |> List.filter (fun p -> kindAt m p = KSub)

    nodes
    |> List.forall (fun p ->
        let kids = childKeys m p

        kids
        |> Set.forall (fun k ->
            match k with
            | I i -> not (kids.Contains(S(string i)))
            | S _ -> true))

/// No input has a leaf at a proper prefix of another input's leaf: the shapes agree, so the
/// last-wins union is a plain union by path (and associative).
let shapesAgree (states: State list) =
    let leafSets = states |> List.map leafPathSet
    let all = Set.unionMany leafSets

    all
    |> Set.forall (fun p -> all |> Set.forall (fun q -> not (isProperPrefix p q)))

let private stringKeyedDict (s: State) =
    nonNull (materialize StringKeys (stringKeyed (readPure (State.toPureDict s))))

let private okOrFail (what: string) (r: Result<'T, StateError list>) =
    match r with
    | Ok x -> x
    | Error errors -> failwith $"""{what} failed: %A{errors |> List.map (fun e -> e.Message)}"""

// ---------------------------------------------------------------------------------------------
// Split and merge

let splitMergeInverse (c: ExhaustiveCase) =
    let s = c.Exhaustive
    let groups = State.split c.Groups s |> okOrFail $"split {c.Groups}"
    expectEqual "one group per filter" c.Groups.Length groups.Length
    expectModel "merge of the split" (ofState s) (State.merge groups)
    expectEqual "merge of the split (State equality)" s (State.merge groups)

    let sets = groups |> List.map leafPathSet

    for i in 0 .. sets.Length - 1 do
        for j in i + 1 .. sets.Length - 1 do
            expectEqual $"groups {i} and {j} share no path" Set.empty (Set.intersect sets.[i] sets.[j])

    expectEqual "the groups hold every leaf" (leafPathSet s) (Set.unionMany sets)

let firstMatchWins (c: ExhaustiveCase) =
    let groups = State.split c.Groups c.Exhaustive |> okOrFail "split"

    groups
    |> List.iteri (fun i g ->
        for struct (p, v) in State.flatten g do
            expectTrue
                $"group {i} holds {p.ToTupleString()}, which its filter matches"
                (Filter.matches c.Groups.[i] p v)

            for j in 0 .. i - 1 do
                expectTrue
                    $"{p.ToTupleString()} in group {i} also matches the earlier filter {j}"
                    (not (Filter.matches c.Groups.[j] p v)))

let groupWithEveryLeafIsTheInput (c: ExhaustiveCase) =
    let s = c.Exhaustive

    if State.leafCount s > 0 then
        let groups = State.split c.Groups s |> okOrFail "split"

        for g in groups do
            if State.leafCount g = State.leafCount s then
                expectSame "a split group that takes every leaf" s g

        let filtered = State.filterMany c.Groups s |> okOrFail "filterMany"

        for g in filtered do
            if State.leafCount g = State.leafCount s then
                expectSame "a filterMany group that takes every leaf" s g

    match State.split [ Everything ] s with
    | Ok [ g ] -> expectSame "split [Everything]" s g
    | other -> failwith $"split [Everything]: %A{other}"

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module SplitAndMerge =
    [<Property>]
    let ``merging the groups of a split gives the state back, and the groups are disjoint`` (c: ExhaustiveCase) =
        splitMergeInverse c

    [<Property>]
    let ``each leaf goes to the first filter that matches it`` (c: ExhaustiveCase) = firstMatchWins c

    [<Property>]
    let ``a group that receives every leaf is the input instance`` (c: ExhaustiveCase) = groupWithEveryLeafIsTheInput c

// ---------------------------------------------------------------------------------------------
// Flat view and pure dicts

let flattenOfFlatInverse (FlatState s) =
    let pairs = State.flatten s
    expectEqual "ofFlat (flatten s)" (Ok s) (State.ofFlat pairs)
    expectEqual "ofFlat of the reversed pairs" (Ok s) (State.ofFlat (Seq.rev pairs))

let pureDictRoundTrip (FlatState s) =
    expectEqual "replaceByPureDict (toPureDict s) s" (Ok s) (State.replaceByPureDict (State.toPureDict s) s)

let stringKeyedRoundTrip (FlatState s) =
    if noSiblingClash s then
        expectEqual
            "replaceByPureDict (stringKeyed (toPureDict s)) s"
            (Ok s)
            (State.replaceByPureDict (stringKeyedDict s) s)

        let restored =
            State.restoreIntPathsLike s (stringKeyedDict s)
            |> okOrFail "restoreIntPathsLike"

        let expected = readPure (State.toPureDict s)

        expectTrue
            $"restoreIntPathsLike s (stringKeyed (toPureDict s)) = toPureDict s: {readPure restored}"
            (pdEquals expected (readPure restored))

let restoreAfterStringify (NoIntNames s) =
    let restored =
        State.restoreIntPaths (stringKeyedDict s) |> okOrFail "restoreIntPaths"

    let expected = readPure (State.toPureDict s)

    expectTrue
        $"restoreIntPaths (stringKeyed (toPureDict s)) = toPureDict s: {readPure restored}"
        (pdEquals expected (readPure restored))

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module FlatAndPure =
    [<Property>]
    let ``ofFlat inverts flatten on states without empty sub-states`` (s: FlatState) = flattenOfFlatInverse s

    [<Property>]
    let ``ofFlat of flatten drops exactly the empty sub-states`` (s: State) =
        match State.ofFlat (State.flatten s) with
        | Ok r -> expectModel "ofFlat (flatten s)" (flat (ofState s)) r
        | Error errors -> failwith $"%A{errors}"

    [<Property>]
    let ``replaceByPureDict (toPureDict s) s = s`` (s: FlatState) = pureDictRoundTrip s

    [<Property>]
    let ``the pure-dict round trip drops the empty sub-states`` (s: State) =
        match State.replaceByPureDict (State.toPureDict s) s with
        | Ok r -> expectModel "round trip" (flat (ofState s)) r
        | Error errors -> failwith $"%A{errors |> List.map (fun e -> e.Message)}"

    [<Property>]
    let ``a replace that returns sub-states grafts them where the leaves were`` (s: State) =
        // The round trip drops empty sub-states as usual.
        let graft (current: obj | null) (_: obj | null) = graftG current

        match State.replaceByPureDictWith { Replace = Some graft; Strict = false } (State.toPureDict s) s with
        | Ok r -> expectGrafted "replace" s r
        | Error errors -> failwith $"%A{errors |> List.map (fun e -> e.Message)}"

    [<Property>]
    let ``the string-keyed round trip gives the state back`` (s: FlatState) = stringKeyedRoundTrip s

    [<Property>]
    let ``restoreIntPaths after stringifying the keys gives the pure dict back`` (s: NoIntNames) =
        restoreAfterStringify s

    [<Property>]
    let ``a JSON round trip of the pure dict gives the state back`` (JsonState s) =
        if noSiblingClash s then
            let json = JsonSerializer.Serialize(stringKeyedDict s)

            let back =
                nonNull (JsonSerializer.Deserialize<Dictionary<string, obj | null>>(json))

            expectEqual $"ReplaceByPureDict of {json}" (Ok s) (State.replaceByPureDict back s)

            let element = JsonDocument.Parse(json).RootElement
            expectEqual $"ReplaceByPureDict of the JsonElement {json}" (Ok s) (State.replaceByPureDict element s)

// ---------------------------------------------------------------------------------------------
// Filter algebra

let private probePaths (m: Model) =
    [ for KeyValue(p, v) in m.Leaves -> p, v ]
    @ [ [ S "zz" ], null; [ I 0; S "kernel" ], box (Param 1) ]

let filterAlgebra (c: FilterCase) =
    let m = ofState c.State

    let pairs =
        match c.Filters with
        | [ f ] -> [ f, Filter.not f ]
        | fs -> List.pairwise fs

    for (f, g) in pairs do
        for (rp, v) in probePaths m do
            let p = toKeyPath rp
            let mf = Filter.matches f p v
            let mg = Filter.matches g p v
            let at = tupleText rp
            expectEqual $"Any [{f}; {g}] at {at}" (mf || mg) (Filter.matches (Filter.any [ f; g ]) p v)
            expectEqual $"All [{f}; {g}] at {at}" (mf && mg) (Filter.matches (Filter.all [ f; g ]) p v)
            expectEqual $"Not {f} at {at}" (not mf) (Filter.matches (Filter.not f) p v)
            expectEqual $"Not (Not {f}) at {at}" mf (Filter.matches (Filter.not (Filter.not f)) p v)
            expectEqual "Any [] matches nothing" false (Filter.matches (Filter.any []) p v)
            expectEqual "All [] matches everything" true (Filter.matches (Filter.all []) p v)

            expectEqual
                $"De Morgan for {f}, {g} at {at}"
                (Filter.matches (Filter.not (Filter.any [ f; g ])) p v)
                (Filter.matches (Filter.all [ Filter.not f; Filter.not g ]) p v)

            expectEqual $"Any [{f}; Everything]" true (Filter.matches (Filter.any [ f; Everything ]) p v)
            expectEqual $"All [{f}; Nothing]" false (Filter.matches (Filter.all [ f; Nothing ]) p v)

        let s = c.State

        expectModel
            $"filter (Any [{f}; {g}]) = filter f ∪ filter g"
            (ofState (State.merge [ State.filter f s; State.filter g s ]))
            (State.filter (Filter.any [ f; g ]) s)

        expectModel
            $"filter (All [{f}; {g}]) = filter g (filter f)"
            (ofState (State.filter g (State.filter f s)))
            (State.filter (Filter.all [ f; g ]) s)

let filterComplement (c: FilterCase) =
    for f in c.Filters do
        let s = c.State
        let union = State.merge [ State.filter f s; State.filter (Filter.not f) s ]
        expectModel $"filter {f} ∪ filter (Not {f}) = s without its empty sub-states" (flat (ofState s)) union

        if not (isEverything f) then
            match State.split [ f; Filter.not f ] s with
            | Ok [ a; b ] ->
                expectEqual "split [f; Not f] is a partition" Set.empty (Set.intersect (leafPathSet a) (leafPathSet b))
                expectModel "split [f; Not f] gives the state back" (flat (ofState s)) (State.merge [ a; b ])
            | other -> failwith $"split [f; Not f]: %A{other}"

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module FilterAlgebra =
    [<Property>]
    let ``Any, All and Not are a boolean algebra on matches`` (c: FilterCase) = filterAlgebra c

    [<Property>]
    let ``filter f and filter (Not f) together give the state back`` (c: FilterCase) = filterComplement c

    [<Property>]
    let ``filter Everything is the identity and filter Nothing the empty state`` (s: State) =
        expectModel "filter Everything" (flat (ofState s)) (State.filter Everything s)
        expectModel "filter Nothing" empty (State.filter Nothing s)
        expectModel "filter (All [])" (flat (ofState s)) (State.filter (Filter.all []) s)
        expectModel "filter (Any [])" empty (State.filter (Filter.any []) s)

// ---------------------------------------------------------------------------------------------
// Merge

let mergeLaws (Related states) =
    let flatOf (s: State) = flat (ofState s)

    for s in states do
        expectSame "merge [empty; s]" s (State.merge [ State.empty; s ])
        expectSame "merge [s; empty]" s (State.merge [ s; State.empty ])
        expectSame "merge [s]" s (State.merge [ s ])
        expectModel "merge [s; s]" (flatOf s) (State.merge [ s; s ])

    expectSame "merge []" State.empty (State.merge [])

    match states with
    | a :: b :: rest ->
        let c = List.tryHead rest |> Option.defaultValue a

        if shapesAgree [ a; b; c ] then
            let left = State.merge [ State.merge [ a; b ]; c ]
            let right = State.merge [ a; State.merge [ b; c ] ]
            let all = State.merge [ a; b; c ]
            expectModel "(a | b) | c = a | b | c, modulo empty sub-states" (flatOf all) (State.filter Everything left)
            expectModel "a | (b | c) = a | b | c, modulo empty sub-states" (flatOf all) (State.filter Everything right)

        // Last wins: every leaf of b, and every leaf of a that b does not touch.
        let merged = ofState (State.merge [ a; b ])
        let ma, mb = ofState a, ofState b

        for KeyValue(p, v) in mb.Leaves do
            match merged.Leaves.TryFind p with
            | Some w -> expectTrue $"the later leaf at {tupleText p}" (obj.ReferenceEquals(v, w))
            | None -> failwith $"merge lost the later leaf at {tupleText p}"

        for KeyValue(p, v) in ma.Leaves do
            let touched = mb.Leaves |> Map.exists (fun q _ -> isPrefix p q || isPrefix q p)

            if not touched then
                match merged.Leaves.TryFind p with
                | Some w -> expectTrue $"the earlier leaf at {tupleText p}" (obj.ReferenceEquals(v, w))
                | None -> failwith $"merge lost the untouched earlier leaf at {tupleText p}"
    | _ -> ()

let mergeAssociative (a: FlatState) (b: FlatState) (c: FlatState) =
    let (FlatState a), (FlatState b), (FlatState c) = a, b, c

    if shapesAgree [ a; b; c ] then
        let all = State.merge [ a; b; c ]
        expectEqual "(a | b) | c = a | b | c" all (State.merge [ State.merge [ a; b ]; c ])
        expectEqual "a | (b | c) = a | b | c" all (State.merge [ a; State.merge [ b; c ] ])

/// SPEC §4.4's last-wins rule makes merge non-associative where a leaf of one input sits at a
/// proper prefix of a leaf of another: b's leaf at ('x',) erases a's sub-tree in a | b | c, but
/// b | c has already lost that leaf to c's sub-tree. This pins that consequence down.
let mergeIsNotAssociativeAcrossShapes () =
    let a = State.ofList [ "x" => State.ofList [ "p" => 1 ] ]
    let b = State.ofList [ "x" => 2 ]
    let c = State.ofList [ "x" => State.ofList [ "q" => 3 ] ]
    expectEqual "a | b | c" (State.ofList [ "x" => State.ofList [ "q" => 3 ] ]) (State.merge [ a; b; c ])
    expectEqual "(a | b) | c" (State.merge [ a; b; c ]) (State.merge [ State.merge [ a; b ]; c ])

    expectEqual
        "a | (b | c)"
        (State.ofList [ "x" => State.ofList [ "p" => 1; "q" => 3 ] ])
        (State.merge [ a; State.merge [ b; c ] ])

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module Merge =
    [<Property>]
    let ``merge has the empty state as identity, is associative and the later input wins`` (r: Related) = mergeLaws r

    [<Property>]
    let ``merge is associative on states whose shapes agree`` (a: FlatState) (b: FlatState) (c: FlatState) =
        mergeAssociative a b c

    [<Property>]
    let ``merge is associative on related states whose shapes agree`` (Related states) =
        match states |> List.map (State.filter Everything) with
        | a :: b :: c :: _ -> mergeAssociative (FlatState a) (FlatState b) (FlatState c)
        | _ -> ()

    [<Fact>]
    let ``merge is not associative where a leaf of one input is a prefix of another's`` () =
        mergeIsNotAssociativeAcrossShapes ()

// ---------------------------------------------------------------------------------------------
// Persistence, equality, order, identity

/// What a state holds, down to the identity of its leaves and the contents of its arrays.
let private snapshot (s: State) =
    let m = ofState s

    let arrays =
        [ for KeyValue(p, v) in m.Leaves do
              match v with
              | :? Array as a -> p, a.Clone()
              | :? Variable as var ->
                  match var.Value with
                  | :? Array as a -> p, a.Clone()
                  | _ -> ()
              | _ -> () ]

    m, arrays, s.ToString()

let private expectUnchanged (what: string) (s: State) (m: Model, arrays, text: string) =
    let now = ofState s
    expectEqual $"{what}: the paths" (Map.toList m.Leaves |> List.map fst) (Map.toList now.Leaves |> List.map fst)
    expectEqual $"{what}: the empty sub-states" m.Empties now.Empties

    for KeyValue(p, v) in m.Leaves do
        expectTrue $"{what}: the leaf at {tupleText p} is the same object" (obj.ReferenceEquals(v, now.Leaves.[p]))

    for (p, a: obj) in arrays do
        let current =
            match now.Leaves.[p] with
            | :? Variable as var -> var.Value
            | x -> x

        expectTrue $"{what}: the array at {tupleText p} is unchanged" (leafEquals a current)

    expectEqual $"{what}: ToString" text (s.ToString())

let noOperationChangesItsInput (c: FilterCase) (Related others) (r: ReplaceCase) =
    let s = c.State
    let before = snapshot s
    let othersBefore = others |> List.map snapshot
    let original = r.Original
    let originalBefore = snapshot original
    let pureInput = nonNull (materialize r.Flavor r.Pure)
    let pureBefore = readPure pureInput

    let run (f: unit -> 'T) =
        (try
            f () |> ignore
         with :? ArgumentException ->
             ())

    for p in (ofState s).Leaves |> Map.toList |> List.map fst |> List.truncate 5 do
        run (fun () -> State.set (toKeyPath p) (box 0) s)
        run (fun () -> State.set (toKeyPath (p @ [ S "x" ])) (box 0) s)
        run (fun () -> State.remove (toKeyPath p) s)
        run (fun () -> State.remove (toKeyPath (List.take 1 p)) s)

    for f in c.Filters do
        run (fun () -> State.filter f s)

    run (fun () -> State.filterMany c.Filters s)
    run (fun () -> State.split c.Filters s)
    run (fun () -> State.split (c.Filters @ [ Everything ]) s)
    run (fun () -> State.merge (s :: others))
    run (fun () -> State.mergeWith MergeConflict.Error (others @ [ s ]))

    for o in others do
        run (fun () -> State.diff o s)
        run (fun () -> State.diff s o)
        run (fun () -> State.zip (fun x _ -> x) s o)

    run (fun () -> State.map (fun _ v -> box [| v |]) s)
    run (fun () -> State.select (fun v -> box [| v |]) s)
    run (fun () -> State.where (fun v -> isNull v) s)
    run (fun () -> State.flatten s)
    run (fun () -> State.ofFlat (State.flatten s))
    run (fun () -> State.toPureDict s)
    run (fun () -> State.replaceByPureDict (State.toPureDict s) s)
    run (fun () -> State.replaceByPureDict pureInput original)
    run (fun () -> State.replaceByPureDictWith { Replace = None; Strict = true } pureInput original)
    run (fun () -> State.restoreIntPaths pureInput)
    run (fun () -> State.restoreIntPathsLike original pureInput)
    run (fun () -> s.GetHashCode())
    run (fun () -> s.Equals original)

    expectUnchanged "the state" s before
    List.iter2 (expectUnchanged "another state") others othersBefore
    expectUnchanged "the replaced state" original originalBefore
    expectTrue "the pure dict is unchanged" (pdEquals pureBefore (readPure pureInput))

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module Persistence =
    [<Property>]
    let ``no operation changes its input`` (c: FilterCase) (r: Related) (rc: ReplaceCase) =
        noOperationChangesItsInput c r rc

let equalityAndHash (c: EqualityCase) =
    let same = equals (ofState c.Left) (ofState c.Right)
    expectEqual "Equals is structural" same (c.Left.Equals c.Right)
    expectEqual "Equals is symmetric" same (c.Right.Equals c.Left)
    expectEqual "IEquatable agrees" same ((c.Left :> IEquatable<State>).Equals c.Right)

    if same then
        expectEqual "equal states hash alike" (c.Left.GetHashCode()) (c.Right.GetHashCode())

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module EqualityAndOrder =
    [<Property>]
    let ``equality is structural and order-free, and equal states hash alike`` (c: EqualityCase) = equalityAndHash c

    [<Property>]
    let ``a state built in another insertion order is equal`` (s: State) =
        let m = ofState s

        let entries =
            [ for KeyValue(p, v) in m.Leaves -> p, Gens.copyLeaf v ]
            @ [ for p in m.Empties -> p, box State.empty ]

        let backwards =
            List.rev entries
            |> List.fold (fun acc (p, v) -> State.set (toKeyPath p) v acc) State.empty

        expectEqual "built backwards" s backwards
        expectEqual "the same hash" (s.GetHashCode()) (backwards.GetHashCode())
        expectTrue "an empty sub-state matters" (m.Empties.IsEmpty || not (s.Equals(State.filter Everything s)))

    [<Property>]
    let ``children, flat pairs and pure dicts all follow the key order`` (s: State) =
        let rec check (node: State) =
            let keys = State.toSeq node |> Seq.map (fst >> rkey) |> List.ofSeq

            for (a, b) in List.pairwise keys do
                expectEqual $"{keyLiteral a} before {keyLiteral b}" -1 (compareKey a b)

            for (_, c) in State.toSeq node do
                match c with
                | Child.Sub sub -> check sub
                | Child.Leaf _ -> ()

        check s

        let paths =
            State.flatten s |> Array.map (fun struct (p, _) -> ofKeyPath p) |> List.ofArray

        for (a, b) in List.pairwise paths do
            expectEqual $"{tupleText a} before {tupleText b}" -1 (comparePath a b)

        let rec checkPure (d: PD) =
            match d with
            | PNode kids ->
                let keys =
                    kids
                    |> List.map (fun (k, _) ->
                        match k with
                        | :? int as i -> I i
                        | k -> S(string k))

                for (a, b) in List.pairwise keys do
                    expectEqual $"pure dict: {keyLiteral a} before {keyLiteral b}" -1 (compareKey a b)

                for (_, v) in kids do
                    checkPure v
            | PLeaf _ -> ()

        checkPure (readPure (State.toPureDict s))

let noOpsReturnTheInput (FlatState s) (c: PathCase) =
    expectSame "filter Everything" s (State.filter Everything s)
    expectSame "merge with one non-empty input" s (State.merge [ State.empty; s; State.empty ])
    expectSame "diff with the empty state" s (State.diff State.empty s)
    expectSame "diff with a state without children" c.Target (State.diff State.empty c.Target)

    match State.split [ Everything ] s with
    | Ok [ g ] -> expectSame "split whose single group takes everything" s g
    | other -> failwith $"split [Everything]: %A{other}"

    match State.split [ Nothing; Everything ] s with
    | Ok [ none; g ] ->
        expectSame "split [Nothing; Everything]: the group that takes everything" s g
        expectEqual "split [Nothing; Everything]: the group that takes nothing" State.empty none
    | other -> failwith $"split [Nothing; Everything]: %A{other}"

    let absent = c.Path @ [ S "surely absent" ]

    if kindAt (ofState c.Target) absent = KAbsent then
        expectSame $"remove of the absent {tupleText absent}" c.Target (State.remove (toKeyPath absent) c.Target)

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module Identity =
    [<Property>]
    let ``operations that change nothing return their input instance`` (s: FlatState) (c: PathCase) =
        noOpsReturnTheInput s c

// ---------------------------------------------------------------------------------------------
// Storage does not show: a node of more than 64 children is a B+tree whose chunks are cut by how
// it was built (all at once, or by removing a child), and a tree that falls to 64 becomes flat.

let storageIsInvisible (size: byte) (removed: byte) =
    let n = 2 + int size % 140
    let gone = int removed % n

    let entry i =
        PathKey.FromIndex i, box (Param(float i))

    let shrunk =
        State.ofList [ for i in 0 .. n - 1 -> entry i ]
        |> State.remove (KeyPath.Of(PathKey.FromIndex gone))

    let built =
        State.ofList
            [ for i in 0 .. n - 1 do
                  if i <> gone then
                      entry i ]

    expectEqual $"{n} children less child {gone}, against the same built directly" built shrunk
    expectEqual "and the other way round" shrunk built
    expectEqual "their hashes" (built.GetHashCode()) (shrunk.GetHashCode())

    let wrapped (s: State) =
        State.ofList [ PathKey.FromName "layers", box s ]

    expectEqual "as sub-states" (wrapped built) (wrapped shrunk)

// Storage does not show either way for packed nodes: ofFlat packs small sub-trees (one leaf array
// and a shared shape), while SetItem on an empty state builds the same tree node by node.

let packingIsInvisible (FlatState s) =
    let flat = State.flatten s

    let packed =
        match State.ofFlat flat with
        | Ok p -> p
        | Error e -> failwith $"ofFlat of a flattened state failed: %A{e}"

    let plain =
        flat |> Array.fold (fun acc (struct (p, v)) -> State.set p v acc) State.empty

    expectEqual "packed = node by node" packed plain
    expectEqual "node by node = packed" plain packed
    expectEqual "their hashes" (packed.GetHashCode()) (plain.GetHashCode())
    expectEqual "their texts" (packed.ToString()) (plain.ToString())
    // Leaves by instance: F# equality would find a NaN in an array unequal to itself.
    let sameFlat what (a: struct (KeyPath * obj | null) array) (b: struct (KeyPath * obj | null) array) =
        expectEqual
            $"{what}: paths"
            (a |> Array.map (fun (struct (p, _)) -> p))
            (b |> Array.map (fun (struct (p, _)) -> p))

        for (struct (_, x), struct (_, y)) in Array.zip a b do
            expectTrue $"{what}: the same leaf instances" (obj.ReferenceEquals(x, y))

    sameFlat "their flat forms" (State.flatten packed) (State.flatten plain)

    // Every operation gives equal answers on both storages, and mixes them.
    let ofType = Filter.ofType<Param>
    expectEqual "filter" (State.filter ofType packed) (State.filter ofType plain)

    expectEqual
        "split"
        (State.split [ ofType; Filter.Everything ] packed)
        (State.split [ ofType; Filter.Everything ] plain)

    match State.split [ ofType; Filter.Everything ] packed, State.split [ ofType; Filter.Everything ] plain with
    | Ok [ a; b ], Ok [ c; d ] ->
        expectEqual "merge of the split, packed against node by node" (State.merge [ a; b ]) (State.merge [ c; d ])
        expectEqual "merge of mixed storages" (State.merge [ a; d ]) (State.merge [ c; b ])
        expectEqual "merge back" packed (State.merge [ a; d ])
    | other -> failwith $"split into two groups: %A{other}"

    let id' = fun (_: KeyPath) (v: obj | null) -> v
    expectEqual "map" (State.map id' packed) (State.map id' plain)
    expectEqual "zip packed with node by node" (Ok packed) (State.zip (fun x _ -> x) packed plain)
    expectEqual "zip node by node with packed" (Ok plain) (State.zip (fun x _ -> x) plain packed)

    let roundTrip (s: State) =
        State.toPureDict s
        |> State.restoreIntPaths
        |> Result.map (fun d -> State.replaceByPureDict d s)

    expectEqual "pure dict round trip" (roundTrip packed) (roundTrip plain)

    for struct (p, _) in flat do
        let marker = box "marker"
        expectEqual $"set {p}" (State.set p marker packed) (State.set p marker plain)

        match State.tryFindPath p packed, State.tryFindPath p plain with
        | Some(Child.Leaf x), Some(Child.Leaf y) ->
            expectTrue $"tryFindPath {p}: the same leaf" (obj.ReferenceEquals(x, y))
        | other -> failwith $"tryFindPath {p}: %A{other}"

module Storage =
    [<Property>]
    let ``equality and hashing do not depend on how a node is stored`` (size: byte) (removed: byte) =
        storageIsInvisible size removed

    [<Property(Arbitrary = [| typeof<Arbs> |])>]
    let ``packed sub-trees and node-by-node trees are indistinguishable`` (s: FlatState) = packingIsInvisible s
