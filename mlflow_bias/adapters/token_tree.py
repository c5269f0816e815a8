"""Token sequences packed as prefix trees, for scoring many texts in one forward pass.

A batch of texts is laid out as the trie of their token sequences: every distinct prefix is one
node, so a prefix that several texts share (a counterfactual pair up to the swapped word, a
template up to its slot, a chat preamble) is computed once, at every level, and no position is
spent on padding. The model sees the nodes as one sequence in which each node attends to itself
and its ancestors only, at the position of its depth: for every text, that is exactly the causal
computation over its own tokens.

Trees are kept small (a few hundred nodes) and several run side by side as the rows of one
batch, each row padded to the longest: attention over a tree costs the square of its nodes, so
many small trees in one call cost less than one large tree, and one call for several trees saves
the model's per-call overhead.

Pure planning (lists and numpy); the model call lives in the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class TokenTree:
    """A trie of token sequences, nodes in creation order (a parent before its children).

    `tokens[n]`, `parents[n]` (-1 for a root) and `depths[n]` describe node n; `paths[i]` lists
    the nodes of sequence i from its first token to its last.
    """

    tokens: np.ndarray
    parents: np.ndarray
    depths: np.ndarray
    paths: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.tokens)

    def ancestry(self) -> np.ndarray:
        """Boolean [nodes, nodes] matrix: row n is True at n and at each of its ancestors."""
        size = len(self.tokens)
        seen = np.zeros((size, size), dtype=bool)
        for node in range(size):
            parent = self.parents[node]
            if parent >= 0:
                seen[node] = seen[parent]
            seen[node, node] = True
        return seen


def build_tree(sequences: Sequence[Sequence[int]]) -> TokenTree:
    """The trie of `sequences` (each at least one token long)."""
    children: dict[tuple[int, int], int] = {}
    tokens: list[int] = []
    parents: list[int] = []
    depths: list[int] = []
    paths: list[np.ndarray] = []
    for sequence in sequences:
        parent, path = -1, []
        for depth, token in enumerate(sequence):
            node = children.get((parent, token))
            if node is None:
                node = len(tokens)
                children[(parent, token)] = node
                tokens.append(int(token))
                parents.append(parent)
                depths.append(depth)
            path.append(node)
            parent = node
        paths.append(np.array(path, dtype=np.int64))
    return TokenTree(np.array(tokens, dtype=np.int64), np.array(parents, dtype=np.int64),
                     np.array(depths, dtype=np.int64), paths)


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def plan_trees(sequences: Sequence[Sequence[int]], max_nodes: int) -> list[list[int]]:
    """Indices of `sequences` split into packs whose tries hold at most `max_nodes` nodes each
    (a sequence longer than that is a pack of its own). Sequences are taken in lexicographic
    order, so those sharing prefixes land in the same pack; a pack's node count is tracked by
    what each sequence adds beyond its common prefix with the one before it."""
    order = sorted(range(len(sequences)), key=lambda i: tuple(sequences[i]))
    packs: list[list[int]] = []
    nodes = 0
    previous: Sequence[int] = ()
    for index in order:
        sequence = sequences[index]
        added = len(sequence) - common_prefix_length(previous, sequence)
        if packs and nodes + added <= max_nodes:
            packs[-1].append(index)
            nodes += added
        else:
            packs.append([index])
            nodes = len(sequence)
        previous = sequence
    return packs


def plan_tree_batches(sizes: Sequence[int], max_positions: int) -> list[list[int]]:
    """Indices of trees of `sizes` nodes grouped into batches, each row a tree padded to the
    batch's largest, so that rows x largest stays within `max_positions` (a tree larger than that
    is a batch of its own). Largest first, and a tree under half the batch's largest starts a new
    batch, so that at most half of any row is padding (a small last tree runs alone rather than
    padded to a full one)."""
    batches: list[list[int]] = []
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        largest = sizes[batches[-1][0]] if batches else 0
        if batches and largest * (len(batches[-1]) + 1) <= max_positions and 2 * sizes[index] >= largest:
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches


def plan_tree_passes(sequences: Sequence[Sequence[int]], max_nodes: int,
                     max_positions: int) -> list[list[tuple[list[int], TokenTree]]]:
    """The forward passes that score `sequences`: packs of at most `max_nodes` tree nodes
    (`plan_trees`), each built as its tree, grouped side by side within `max_positions`
    (`plan_tree_batches`). Each pass lists (indices into `sequences`, their tree) per row."""
    packs = plan_trees(sequences, max_nodes)
    trees = [build_tree([sequences[i] for i in pack]) for pack in packs]
    return [[(packs[k], trees[k]) for k in batch]
            for batch in plan_tree_batches([len(tree) for tree in trees], max_positions)]
