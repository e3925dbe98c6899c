"""Property tests: every pattern's invariants over random shapes and weights (hypothesis).

Weights are drawn either continuous or from a handful of integer levels, so ties are
frequent and the "ties to the lower index" rule is exercised. Reference masks come from
plain loops over a stable sort, independent of the vectorised implementation.
"""

import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import patterns
from patterns.block import blocks_view, bpar_score, redundancy

SPARSITIES = [0.0, 0.25, 0.3, 0.5, 0.6, 0.7, 0.75, 0.875, 0.9, 0.95]
FEW = settings(max_examples=40)


def weights(shape, seed, levels):
    """Random weight of ``shape``; with ``levels`` it takes only 2*levels+1 values (ties)."""
    gen = torch.Generator().manual_seed(seed)
    if levels:
        return torch.randint(-levels, levels + 1, shape, generator=gen).float()
    return torch.randn(shape, generator=gen)


seeds = st.integers(0, 2**31 - 1)
levels = st.sampled_from([0, 0, 1, 3])
kernel = st.sampled_from([(1, 1), (3, 3), (1, 3), None])  # None: a Linear weight


def shape_of(cout, cin, taps):
    return (cout, cin) if taps is None else (cout, cin, *taps)


def half_up(x: Fraction) -> int:
    return int(x + Fraction(1, 2))


def keep_order(scores):
    """Indices of ``scores`` from largest to smallest, ties to the lower index."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def flip_one(mask, index):
    flipped = mask.clone().flatten()
    flipped[index % flipped.numel()] ^= True
    return flipped.view(mask.shape)


def assert_rejects_flip(pattern, mask, index):
    pattern.validate(mask)
    with pytest.raises(ValueError, match="mask breaks"):
        pattern.validate(flip_one(mask, index))


def as4(t):
    return t.reshape(*t.shape, 1, 1) if t.dim() == 2 else t


# ---------------------------------------------------------------- nm -----------------
@FEW
@given(st.data(), seeds, levels, kernel, st.integers(1, 5), st.integers(1, 3))
def test_nm_keeps_n_largest_per_group_of_m(data, seed, lv, taps, cout, groups):
    m = data.draw(st.sampled_from([2, 3, 4, 8]))
    n = data.draw(st.integers(1, m - 1))
    w = weights(shape_of(cout, m * groups, taps), seed, lv)
    p = patterns.make("nm", n=n, m=m)
    mask = p.mask(w)
    assert mask.shape == w.shape and mask.dtype == torch.bool
    w4, m4 = as4(w).numpy(), as4(mask).numpy()
    for co, kh, kw, g in itertools.product(
        range(w4.shape[0]), range(w4.shape[2]), range(w4.shape[3]), range(groups)
    ):
        scores = np.abs(w4[co, g * m : (g + 1) * m, kh, kw]).tolist()
        expected = sorted(keep_order(scores)[:n])
        assert np.flatnonzero(m4[co, g * m : (g + 1) * m, kh, kw]).tolist() == expected
    assert patterns.density(mask) == pytest.approx(n / m)
    assert_rejects_flip(p, mask, data.draw(st.integers(0, w.numel() - 1)))


# ---------------------------------------------------------------- cs -----------------
@FEW
@given(st.data(), seeds, levels, kernel, st.integers(1, 4))
def test_cs_keeps_exactly_one_per_complementary_group(data, seed, lv, taps, cout):
    k = data.draw(st.sampled_from([2, 3, 4, 8]))
    d = data.draw(st.sampled_from([None, 1, 2, 3]))
    chunks = data.draw(st.integers(1, 3))
    cin = k * (d or 2) * chunks if d else k * data.draw(st.integers(1, 4))
    w = weights(shape_of(cout, cin, taps), seed, lv)
    p = patterns.make("cs", k=k, d=d)
    dist = p.distance(cin)
    mask = p.mask(w)
    w4, m4 = as4(w).numpy(), as4(mask).numpy()
    taps_n = w4.shape[2] * w4.shape[3]
    assert (m4.reshape(cout, -1).sum(axis=1) == cin * taps_n // k).all()
    for co, kh, kw, c0 in itertools.product(
        range(cout), range(w4.shape[2]), range(w4.shape[3]), range(0, cin, k * dist)
    ):
        for j in range(dist):
            group = [c0 + j + t * dist for t in range(k)]
            kept = [t for t, c in enumerate(group) if m4[co, c, kh, kw]]
            scores = [abs(float(w4[co, c, kh, kw])) for c in group]
            assert kept == keep_order(scores)[:1]
    assert_rejects_flip(p, mask, data.draw(st.integers(0, w.numel() - 1)))


def test_cs_with_d_1_equals_nm_1_to_k():
    w = weights((6, 16, 3, 3), 7, 2)
    assert torch.equal(patterns.make("cs", k=4, d=1).mask(w), patterns.make("nm", n=1, m=4).mask(w))


# ---------------------------------------------------------------- unstructured --------
@FEW
@given(st.data(), seeds, levels, kernel, st.integers(1, 6), st.integers(1, 6))
def test_unstructured_layer_keeps_exact_count_of_largest(data, seed, lv, taps, cout, cin):
    s = data.draw(st.sampled_from(SPARSITIES))
    w = weights(shape_of(cout, cin, taps), seed, lv)
    p = patterns.make("unstructured", sparsity=s)
    mask = p.mask(w)
    keep = half_up((1 - Fraction(str(s))) * w.numel())
    expected = sorted(keep_order(w.abs().flatten().tolist())[:keep])
    assert torch.nonzero(mask.flatten()).flatten().tolist() == expected
    assert_rejects_flip(p, mask, data.draw(st.integers(0, w.numel() - 1)))


@FEW
@given(st.data(), seeds, levels, st.integers(1, 4))
def test_unstructured_global_uses_one_threshold_over_layers(data, seed, lv, layers):
    s = data.draw(st.sampled_from(SPARSITIES))
    choices = st.sampled_from([(4, 3, 3, 3), (8, 4), (2, 6, 1, 1)])
    shapes = [data.draw(choices) for _ in range(layers)]
    ws = {f"l{i}": weights(shape, seed + i, lv) for i, shape in enumerate(shapes)}
    p = patterns.make("unstructured", sparsity=s, scope="global")
    masks = p.mask_many(ws)
    assert list(masks) == list(ws)
    flat_w = torch.cat([w.abs().flatten() for w in ws.values()])
    flat_m = torch.cat([m.flatten() for m in masks.values()])
    keep = half_up((1 - Fraction(str(s))) * flat_w.numel())
    expected = sorted(keep_order(flat_w.tolist())[:keep])
    assert torch.nonzero(flat_m).flatten().tolist() == expected
    for name, mask in masks.items():
        assert mask.shape == ws[name].shape
        p.validate(mask)  # global scope has no per-layer count to check
    layer = patterns.make("unstructured", sparsity=s)
    assert p.mask_many({"only": ws["l0"]})["only"].equal(layer.mask(ws["l0"]))


# ---------------------------------------------------------------- block ---------------
def block_scores_reference(w4, n):
    cout, cin = w4.shape[:2]
    return np.array(
        [[np.abs(w4[r * n : (r + 1) * n, ci]).sum() for ci in range(cin)] for r in range(cout // n)]
    )


@FEW
@given(st.data(), seeds, levels, kernel, st.integers(1, 3), st.integers(1, 8))
def test_block_uniform_keeps_same_blocks_per_row(data, seed, lv, taps, rows, cin):
    n = data.draw(st.sampled_from([1, 2, 4]))
    s = data.draw(st.sampled_from(SPARSITIES))
    w = weights(shape_of(rows * n, cin, taps), seed, lv)
    p = patterns.make("block", n=n, sparsity=s, balance="uniform", criterion="l1")
    mask = p.mask(w)
    w4, m4 = as4(w).numpy(), as4(mask).numpy()
    keep = half_up((1 - Fraction(str(s))) * cin)
    scores = block_scores_reference(w4, n)
    for r in range(rows):
        block = m4[r * n : (r + 1) * n]
        assert (block.all(axis=(0, 2, 3)) | ~block.any(axis=(0, 2, 3))).all()
        kept = np.flatnonzero(block.all(axis=(0, 2, 3))).tolist()
        assert kept == sorted(keep_order(scores[r].tolist())[:keep])
    assert_rejects_flip(p, mask, data.draw(st.integers(0, w.numel() - 1)))


@FEW
@given(st.data(), seeds, levels, kernel, st.integers(1, 3), st.integers(1, 8))
def test_block_global_prunes_lowest_blocks_of_layer(data, seed, lv, taps, rows, cin):
    n = data.draw(st.sampled_from([1, 2, 4]))
    s = data.draw(st.sampled_from(SPARSITIES))
    w = weights(shape_of(rows * n, cin, taps), seed, lv)
    p = patterns.make("block", n=n, sparsity=s, balance="global")
    mask = p.mask(w)
    m4 = as4(mask).numpy()
    blocks = rows * cin
    keep = blocks - half_up(Fraction(str(s)) * blocks)
    scores = block_scores_reference(as4(w).numpy(), n).flatten().tolist()
    kept = m4.reshape(rows, n, cin, -1).all(axis=(1, 3)).flatten()
    assert np.flatnonzero(kept).tolist() == sorted(keep_order(scores)[:keep])
    assert m4.sum() == kept.sum() * n * m4.shape[2] * m4.shape[3]
    assert_rejects_flip(p, mask, data.draw(st.integers(0, w.numel() - 1)))


@FEW
@given(st.data(), seeds, kernel, st.integers(1, 3), st.integers(2, 8))
def test_block_l2_and_bpar_keep_whole_balanced_blocks(data, seed, taps, rows, cin):
    n = data.draw(st.sampled_from([1, 2, 4]))
    criterion = data.draw(st.sampled_from(["l2", "bpar"]))
    w = weights(shape_of(rows * n, cin, taps), seed, 0)
    p = patterns.make("block", n=n, sparsity=0.5, criterion=criterion)
    mask = p.mask(w)
    assert torch.equal(mask, p.mask(w.clone()))
    assert_rejects_flip(p, mask, data.draw(st.integers(0, w.numel() - 1)))


def bpar_reference(w4, n):
    """SUBP score per block, straight from the formula (loops, float64): the redundancy sum
    includes the block itself, and a zero redundancy share counts as 1."""
    cout, cin = w4.shape[:2]
    out = np.zeros((cout // n, cin))
    for r in range(cout // n):
        blocks = [w4[r * n : (r + 1) * n, ci].astype(np.float64).ravel() for ci in range(cin)]
        l1 = np.array([np.abs(b).sum() for b in blocks])
        norms = [np.linalg.norm(b) for b in blocks]
        red = np.zeros(cin)
        for i, j in itertools.product(range(cin), repeat=2):
            if norms[i] > 0 and norms[j] > 0:
                red[i] += abs(blocks[i] @ blocks[j]) / (norms[i] * norms[j])
        l1_share = l1 / l1.sum() if l1.sum() > 0 else l1
        red_share = red / red.sum() if red.sum() > 0 else red
        out[r] = l1_share - np.where(red_share == 0, 1.0, red_share)
    return out


@pytest.mark.parametrize(("shape", "n"), [((8, 5, 3, 3), 4), ((6, 7, 1, 1), 2), ((4, 3, 1, 2), 1)])
def test_bpar_score_matches_the_formula(shape, n):
    w = weights(shape, 3, 0)
    w[0, 1] = 0  # a zero block: cosine 0 with everything
    got = bpar_score(blocks_view(w, n)).numpy()
    assert np.allclose(got, bpar_reference(w.numpy(), n), atol=1e-5)


@pytest.mark.parametrize("shape", [(8, 150, 1, 1), (2, 1000, 3, 3), (64, 20, 1, 1)])
def test_redundancy_tiling_matches_the_full_cosine_matrix(shape):
    w = weights(shape, 5, 0)
    blocks = blocks_view(w, 2)
    vectors = blocks.permute(0, 2, 1, 3).flatten(2).double()
    unit = vectors / vectors.norm(dim=-1, keepdim=True)
    full = (unit @ unit.transpose(1, 2)).abs().sum(-1)  # |cos(b, b)| = 1 included
    assert torch.allclose(redundancy(blocks).double(), full, atol=1e-3)


# Hand-computed SUBP scores: one block-row (n=2, 1x1) of blocks b0=(1,0), b1=(0,2),
# b2=(1,1), b3=(0,0). L1 shares .2 .4 .4 0. |cos| rows, b itself included:
# b0: 1 + 0 + 1/√2, b1: 0 + 1 + 1/√2, b2: 1/√2 + 1/√2 + 1, b3: 0 (a zero block)
# -> sum 3 + 2√2; shares (1 + 1/√2)/(3 + 2√2), same, (1 + √2)/(3 + 2√2), 0 -> 1.
# The second block-row is all zero: L1 shares 0, redundancy shares 0 -> 1: every score −1.
R2 = 2**0.5
HAND_W = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 1.0, 0.0],
                       [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]).view(4, 4, 1, 1)
HAND_SCORES = [
    [0.2 - (1 + 1 / R2) / (3 + 2 * R2), 0.4 - (1 + 1 / R2) / (3 + 2 * R2),
     0.4 - (1 + R2) / (3 + 2 * R2), -1.0],
    [-1.0, -1.0, -1.0, -1.0],
]


def test_bpar_scores_equal_subp_on_a_hand_computed_layer():
    got = bpar_score(blocks_view(HAND_W, 2))
    assert torch.allclose(got.double(), torch.tensor(HAND_SCORES, dtype=torch.float64),
                          atol=1e-6)
    # -0.0929, +0.1071, -0.0142, -1: b1 and b2 kept; the zero block b3 goes first (excluding
    # b itself and scoring a zero block 0, as before, kept b1 and the zero block b3)
    mask = patterns.make("block", n=2, sparsity=0.5, criterion="bpar").mask(HAND_W)
    assert mask[0, :, 0, 0].tolist() == [False, True, True, False]
    assert mask[2, :, 0, 0].tolist() == [True, True, False, False]  # all tied: lower index


def test_bpar_prefers_a_distinct_block_over_redundant_ones():
    base = torch.tensor([1.0, 2.0, 3.0, 4.0])
    w = torch.stack([base, 1.01 * base, base.flip(0) * torch.tensor([1, -1, 1, -1])], dim=1)
    w = w.view(4, 3, 1, 1)  # one block-row of 4 channels, 3 blocks; blocks 0 and 1 parallel
    kept = patterns.make("block", n=4, sparsity=0.6, criterion="bpar").mask(w)[0, :, 0, 0]
    l1_kept = patterns.make("block", n=4, sparsity=0.6, criterion="l1").mask(w)[0, :, 0, 0]
    assert kept.tolist() == [False, False, True]
    assert l1_kept.tolist() == [False, True, False]


# ---------------------------------------------------------------- filter --------------
@FEW
@given(st.data(), seeds, levels, kernel, st.integers(1, 8), st.integers(1, 4))
def test_filter_removes_lowest_l1_output_channels(data, seed, lv, taps, cout, cin):
    s = data.draw(st.sampled_from(SPARSITIES))
    w = weights(shape_of(cout, cin, taps), seed, lv)
    p = patterns.make("filter", sparsity=s)
    mask = p.mask(w)
    per_channel = mask.flatten(1)
    assert (per_channel.all(1) | ~per_channel.any(1)).all()
    keep = cout - half_up(Fraction(str(s)) * cout)
    scores = w.abs().flatten(1).sum(1).tolist()
    assert torch.nonzero(per_channel.all(1)).flatten().tolist() == sorted(keep_order(scores)[:keep])
    assert_rejects_flip(p, mask, data.draw(st.integers(0, w.numel() - 1)))


# ---------------------------------------------------------------- every pattern --------
ALL = [
    patterns.make("dense"),
    patterns.make("unstructured", sparsity=0.6),
    patterns.make("unstructured", sparsity=0.6, scope="global"),
    patterns.make("nm", n=2, m=4),
    patterns.make("block", n=2, sparsity=0.5),
    patterns.make("block", n=2, sparsity=0.5, balance="global", criterion="l2"),
    patterns.make("block", n=2, sparsity=0.5, criterion="bpar"),
    patterns.make("block", n=2, sparsity=0.5, criterion="bpar", rearrange=True),
    patterns.make("block", n=2, sparsity=0.5, balance="global", rearrange=True),
    patterns.make("cs", k=4),
    patterns.make("cs", k=2, d=2),
    patterns.make("filter", sparsity=0.5),
]


@pytest.mark.parametrize("p", ALL, ids=lambda p: p.describe())
@settings(max_examples=15)
@given(seed=seeds, lv=levels)
def test_masks_are_pure_functions_of_the_weights(p, seed, lv):
    w = weights((4, 8, 3, 3), seed, lv)
    mask = p.mask(w)
    p.validate(mask)
    assert mask.is_contiguous()
    assert torch.equal(mask, p.mask(w.clone()))
    strided = w.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)  # same values, NHWC memory
    assert torch.equal(mask, p.mask(strided))
    assert torch.equal(mask, p.mask(-w))  # scores are magnitudes
    assert torch.equal(mask, p.mask(w.double()))
    linear = w[:, :, 0, 0]
    assert torch.equal(p.mask(linear), p.mask(linear[:, :, None, None])[:, :, 0, 0])
    assert torch.equal(p.mask_many({"a": w})["a"], mask)


@pytest.mark.parametrize(
    ("p", "kept"),
    [
        (patterns.make("nm", n=1, m=4), [0, 4]),
        (patterns.make("cs", k=4), [0, 1]),
        (patterns.make("cs", k=2, d=2), [0, 1, 4, 5]),
        (patterns.make("unstructured", sparsity=0.75), list(range(8))),  # row 0 first
        (patterns.make("block", n=1, sparsity=0.75), [0, 1]),
        (patterns.make("filter", sparsity=0.75), list(range(8))),
    ],
    ids=lambda x: x.describe() if isinstance(x, patterns.Pattern) else "",
)
def test_equal_weights_keep_the_lowest_indices(p, kept):
    w = torch.ones(4, 8)  # every score ties
    mask = p.mask(w)
    assert torch.nonzero(mask[0]).flatten().tolist() == kept


def test_masks_follow_the_weight_device_and_reject_wrong_rank():
    w = torch.randn(4, 8, 3, 3)
    assert patterns.make("nm").mask(w).device == w.device
    with pytest.raises(ValueError, match="2-D"):
        patterns.make("nm").mask(w[0])
