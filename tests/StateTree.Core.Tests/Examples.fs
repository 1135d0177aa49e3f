/// The SPEC's examples (§5, from the Flax documentation), in F#.
module StateTree.Core.Tests.Examples

open System.Collections.Generic
open System.Text.Json
open Xunit
open StateTree
open StateTree.FSharp

let private batchNormLinear () =
    State.ofList
        [ "batchnorm"
          => State.ofList
              [ "bias" => Param [| 0.0f; 0.0f; 0.0f |]
                "scale" => Param [| 1.0f; 1.0f; 1.0f |]
                "mean" => BatchStat [| 0.0f; 0.0f; 0.0f |]
                "var" => BatchStat [| 1.0f; 1.0f; 1.0f |] ]
          "linear"
          => State.ofList
              [ "bias" => Param [| 0.0f; 0.0f |]
                "kernel" => Param [| 0.5f; -0.5f; 0.25f; 1.5f; 2.0f; -1.0f |] ] ]

let private ok (r: Result<'T, StateError list>) =
    match r with
    | Ok x -> x
    | Error e -> failwith $"""%A{e |> List.map (fun x -> x.Message)}"""

[<Fact>]
let ``filter, split, merge and the JSON round trip of the Flax example`` () =
    let state = batchNormLinear ()
    let param = State.filter Filter.ofType<Param> state
    Assert.Equal(4, State.leafCount param)

    match State.filterMany [ Filter.ofType<Param>; Filter.ofType<BatchStat> ] state with
    | Ok [ p; b ] ->
        Assert.Equal(param, p)
        Assert.Equal(2, State.leafCount b)
    | other -> failwith $"%A{other}"

    let groups =
        State.split [ Filter.ofType<Param>; Filter.ofType<BatchStat> ] state |> ok

    Assert.Equal(state, State.merge groups)

    let pure' = State.toPureDict state
    Assert.Equal<obj list>([ "batchnorm" :> obj; "linear" ], [ for kv in pure' -> kv.Key ])
    let json = JsonSerializer.Serialize pure'

    let back =
        JsonSerializer.Deserialize<Dictionary<string, obj | null>>(json) |> nonNull

    let restored = State.restoreIntPaths back |> ok
    Assert.Equal(state, State.replaceByPureDict restored state |> ok)
    Assert.Equal(state, State.replaceByPureDict back state |> ok)

[<Fact>]
let ``a list of layers keeps its int keys through JSON`` () =
    let state =
        State.ofList
            [ 0 => State.ofList [ "kernel" => Param 1 ]
              1 => State.ofList [ "kernel" => Param 2 ] ]

    let pure' = State.toPureDict state
    Assert.Equal<obj list>([ 0 :> obj; 1 ], [ for kv in pure' -> kv.Key ])

    let text = Dictionary<string, obj | null>()

    for kv in pure' do
        text.[string kv.Key] <- kv.Value

    let json = JsonSerializer.Serialize text
    Assert.StartsWith("{\"0\":{\"kernel\":1},\"1\":", json)

    let back =
        JsonSerializer.Deserialize<Dictionary<string, obj | null>>(json) |> nonNull

    let restored = State.restoreIntPaths back |> ok
    Assert.Equal<obj list>([ 0 :> obj; 1 ], [ for kv in restored -> kv.Key ])
    Assert.Equal(state, State.replaceByPureDict restored state |> ok)

[<Fact>]
let ``the SPEC's printing example`` () =
    let state =
        State.ofList
            [ 0 => Param(1, Gens.metadata [ "tag", box "x" ])
              "bn" => State.ofList [ "mean" => BatchStat 3 ] ]

    Assert.Equal(
        "State({\n  0: Param(\n    value=1,\n    tag='x'\n  ),\n  'bn': {\n    'mean': BatchStat(\n      value=3\n    )\n  }\n})",
        state.ToString()
    )

    Assert.Equal("State({})", State.empty.ToString())

    Assert.Equal(
        "State({\n  'k': Param( # 6 (24 B)\n    value=float32[6]\n  ),\n  'raw': float32[2,3]\n})",
        (State.ofList
            [ "k" => Param(Array.zeroCreate<float32> 6)
              "raw" => Array2D.zeroCreate<float32> 2 3 ])
            .ToString()
    )

[<Fact>]
let ``a JSON value that cannot take the type it replaces names the path`` () =
    let state = State.ofList [ "a" => Param 1; "b" => Param 2 ]

    let back =
        JsonSerializer.Deserialize<Dictionary<string, obj | null>>("""{"a": "text", "b": 3}""")
        |> nonNull

    match State.replaceByPureDict back state with
    | Error [ StateError.ConversionFailed(path, target, _) as e ] ->
        Assert.Equal("('a',)", path.ToTupleString())
        Assert.Equal(typeof<int>, target)
        Assert.Contains("('a',)", e.Message)
    | other -> failwith $"%A{other}"

[<Fact>]
let ``a conversion failure deep in a packed node names its whole path`` () =
    // toPureDict's own key order takes replaceByPureDict's in-order path over the packed node, which
    // must keep the trail of keys that an error path is made from.
    let layer (x: int) =
        State.ofList [ "bias" => Param x; "kernel" => Param(x + 1) ]

    let state = State.ofList [ "layers" => State.ofList [ 0 => layer 0; 1 => layer 2 ] ]
    let pure' = State.toPureDict state
    let layers = nonNull pure'.["layers"] :?> Dictionary<obj, obj | null>
    let one = nonNull layers.[1] :?> Dictionary<obj, obj | null>
    one.["kernel"] <- box (JsonSerializer.SerializeToElement "text")

    match State.replaceByPureDict pure' state with
    | Error [ StateError.ConversionFailed(path, target, _) ] ->
        Assert.Equal("('layers', 1, 'kernel')", path.ToTupleString())
        Assert.Equal(typeof<int>, target)
    | other -> failwith $"%A{other}"

[<Fact>]
let ``ofFlat does not take pairs for a sibling's structure when only their last keys match it`` () =
    // Below a node too large to pack (more than 64 leaves), the builder takes a node whole when its
    // pairs repeat the previous sibling's structure. Each case here has pairs that match that
    // structure key by key from the node down, but not the node itself.
    let path (keys: PathKey list) = KeyPath.OfSeq keys
    let i (n: int) = PathKey.FromIndex n
    let s (name: string) = PathKey.FromName name

    let text (pairs: struct (KeyPath * obj | null) array) =
        pairs |> Array.map (fun (struct (p, _)) -> p.ToTupleString())

    let check (paths: KeyPath array) =
        let pairs = paths |> Array.map (fun p -> struct (p, box (Param 1)))
        Assert.Equal<string array>(text pairs, text (State.flatten (ok (State.ofFlat pairs))))

    // Nodes 0-39 have a/x and b/x; node 40 only a/x and node 41 only b/x: read from 40/a/x on, the
    // pairs have the keys of that structure, but under two nodes.
    check
        [| for n in 0..39 do
               path [ i n; s "a"; s "x" ]
               path [ i n; s "b"; s "x" ]
           path [ i 40; s "a"; s "x" ]
           path [ i 41; s "b"; s "x" ] |]

    // Nodes 0-69 have a leaf a; node 70 has z/a, one level deeper.
    check
        [| for n in 0..69 do
               path [ i n; s "a" ]
           path [ i 70; s "z"; s "a" ] |]

[<Fact>]
let ``ofFlat: a grafted state and a pair below its path, the later wins either way`` () =
    let node = KeyPath.Of(PathKey.FromIndex 4)
    let below = node.Append(PathKey.FromIndex -3)
    let grafted = State.ofList [ -3 => "grafted"; 9 => "kept" ]

    let leafAt (pairs: struct (KeyPath * obj | null) array) =
        State.tryFindPath below (ok (State.ofFlat pairs))

    Assert.Equal(Some(Child.Leaf "grafted"), leafAt [| struct (below, box "pair"); struct (node, box grafted) |])
    Assert.Equal(Some(Child.Leaf "pair"), leafAt [| struct (node, box grafted); struct (below, box "pair") |])

[<Fact>]
let ``tensor leaves compare element by element, hash alike and print their shape`` () =
    let tensor (values: float32 array) (lengths: nativeint array) =
        System.Numerics.Tensors.Tensor.Create<float32>(values, System.ReadOnlySpan<nativeint>(lengths))

    let a =
        State.ofList [ "w" => Param(tensor [| 1.0f; 2.0f; 3.0f; 4.0f; 5.0f; 6.0f |] [| 2n; 3n |]) ]

    let b =
        State.ofList [ "w" => Param(tensor [| 1.0f; 2.0f; 3.0f; 4.0f; 5.0f; 6.0f |] [| 2n; 3n |]) ]

    let reshaped =
        State.ofList [ "w" => Param(tensor [| 1.0f; 2.0f; 3.0f; 4.0f; 5.0f; 6.0f |] [| 3n; 2n |]) ]

    let changed =
        State.ofList [ "w" => Param(tensor [| 1.0f; 2.0f; 3.0f; 4.0f; 5.0f; 7.0f |] [| 2n; 3n |]) ]

    Assert.Equal(a, b)
    Assert.Equal(a.GetHashCode(), b.GetHashCode())
    Assert.NotEqual(a, reshaped)
    Assert.NotEqual(a, changed)
    Assert.Equal("State({\n  'w': Param( # 6 (24 B)\n    value=float32[2,3]\n  )\n})", a.ToString())
