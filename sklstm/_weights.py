"""A fitted network as a PyTorch ``state_dict``, and such a dict read back.

The names are those of a PyTorch module holding ``layers``, a
``torch.nn.ModuleList`` with one one-layer ``batch_first`` ``nn.LSTM`` or
``nn.GRU`` per stacked layer (so that layers of different widths work), and
``head``, an ``nn.Linear``::

    layers.{k}.weight_ih_l0   (G*H_k, n_in_k)    W
    layers.{k}.weight_hh_l0   (G*H_k, H_k)       U
    layers.{k}.bias_ih_l0     (G*H_k,)           b (LSTM), b_ih (GRU)
    layers.{k}.bias_hh_l0     (G*H_k,)           0 (LSTM), b_hh (GRU)
    layers.{k}.…_l0_reverse                      the reverse direction
    head.weight               (n_outputs, n_pooled)
    head.bias                 (n_outputs,)

with ``G = 4`` gates (i, f, g, o) for the LSTM and ``G = 3`` (r, z, n) for
the GRU: sklstm's layouts are PyTorch's, the LSTM's one bias being the sum of
PyTorch's two. The state_dict of a multi-layer ``nn.LSTM`` or ``nn.GRU``
(``[prefix.]weight_ih_l{k}[_reverse]``, equal widths) is read too. Nothing
here imports torch: the arrays are NumPy's.
"""

import re
from collections import namedtuple

import numpy as np

from ._export import folded
from ._network import make_cell

__all__ = ["StateDict", "read_state_dict", "state_dict"]

_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_HEAD = ("head.weight", "head.bias")
# a ModuleList of one-layer modules: layers.{k}.weight_ih_l0[_reverse]
_LIST_NAME = re.compile(r"layers\.(\d+)\.(weight_ih|weight_hh|bias_ih|bias_hh)_l0"
                        r"(_reverse)?")
# one multi-layer module, under at most one attribute: [lstm.]weight_ih_l{k}
_STACK_NAME = re.compile(r"(?:([A-Za-z_]\w*)\.)?(weight_ih|weight_hh|bias_ih|bias_hh)"
                         r"_l(\d+)(_reverse)?")

_NAMING = (
    "from_weights reads the state_dict of a module holding `layers`, a ModuleList "
    "of one-layer nn.LSTM or nn.GRU (layers.{k}.weight_ih_l0, "
    "layers.{k}.weight_hh_l0, layers.{k}.bias_ih_l0, layers.{k}.bias_hh_l0, and "
    "the same with _reverse), or a single multi-layer nn.LSTM or nn.GRU "
    "([prefix.]weight_ih_l{k}, ...), and `head`, an nn.Linear (head.weight, "
    "head.bias)")


def _shown(names, limit=8):
    names = list(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(repr(n) for n in names[:limit]) + more


# --- out ---------------------------------------------------------------------------


def state_dict(est):
    """The fitted estimator ``est`` as the ``state_dict`` of the module of the
    module docstring, input standardisation and target scaling folded in
    (:func:`sklstm._export.folded`); new C-contiguous arrays in the dtype of
    the fitted weights."""
    f = folded(est)
    reasons = f.cell.torch_refusal()
    if reasons:
        raise ValueError(
            f"This {type(est).__name__} has no PyTorch layer for its cell "
            f"({'; '.join(reasons)}), so its weights have no state_dict form. "
            "Export it as an ONNX graph with sklstm.onnx.to_onnx, or keep it "
            "with sklstm's own persistence (pickle, joblib or skops); for a "
            "PyTorch-ready model, fit with cell='lstm' or cell='gru'.")
    out = {}
    for k, layer in enumerate(f.recurrent):
        for d, params in enumerate(layer):
            suffix = "_l0_reverse" if d == 1 else "_l0"
            for kind, a in zip(_KINDS, f.cell.torch_weights(params)):
                out[f"layers.{k}.{kind}{suffix}"] = np.array(a, order="C", copy=True)
    out["head.weight"] = np.array(f.coef, order="C", copy=True)
    out["head.bias"] = np.array(f.intercept, order="C", copy=True)
    return out


# --- in ----------------------------------------------------------------------------

StateDict = namedtuple("StateDict", ["cell", "hidden_sizes", "bidirectional",
                                     "recurrent", "coef", "intercept", "n_inputs"])
StateDict.__doc__ = """A checked state_dict in sklstm's layout.

``cell`` "lstm" or "gru"; ``hidden_sizes`` a tuple of the layers' widths;
``recurrent[layer][direction]`` the cell's arrays (``(W, U, b)``, ``b`` the sum
of PyTorch's biases, or the GRU's ``(W, U, b_ih, b_hh)``); ``coef``,
``intercept`` the head's ``weight`` and ``bias``; ``n_inputs`` the first
layer's inputs. Every array is a new C-contiguous float32 array when all of
the dict's are float32, float64 otherwise.
"""


def _parse_names(weights):
    """``({(layer, direction, kind): name}, name of (layer, direction, kind))``."""
    found, unknown, forms, prefixes = {}, [], set(), set()
    for name in weights.keys():
        if not isinstance(name, str):
            unknown.append(name)
            continue
        if name in _HEAD:
            continue
        m = _LIST_NAME.fullmatch(name)
        if m is not None:
            forms.add("list")
            key = (int(m[1]), int(m[3] is not None), m[2])
        else:
            m = _STACK_NAME.fullmatch(name)
            if m is None:
                unknown.append(name)
                continue
            forms.add("stack")
            prefixes.add(m[1])
            key = (int(m[3]), int(m[4] is not None), m[2])
        found[key] = name
    if unknown:
        hint = ""
        if any(isinstance(n, str) and "weight_hr_l" in n for n in unknown):
            hint = (" (weight_hr_l{k} is the projection of an nn.LSTM with "
                    "proj_size > 0, which sklstm has no counterpart for)")
        raise ValueError(
            f"weights has names that are not a recurrent layer's or the head's: "
            f"{_shown(unknown)}{hint}. {_NAMING}: rename these entries or drop "
            "them.")
    if len(forms) > 1 or len(prefixes) > 1:
        raise ValueError(
            "weights mixes namings of the recurrent layers ("
            f"{_shown(sorted(found.values()))}); {_NAMING}, one of the two, with "
            "one prefix.")
    if not found:
        raise ValueError(f"weights holds no recurrent layer; {_NAMING}.")
    if forms == {"list"}:
        def name_of(k, d, kind):
            return f"layers.{k}.{kind}_l0{'_reverse' if d else ''}"
    else:
        prefix = prefixes.pop()
        lead = f"{prefix}." if prefix else ""

        def name_of(k, d, kind):
            return f"{lead}{kind}_l{k}{'_reverse' if d else ''}"
    return found, name_of


def _real_array(weights, name):
    a = np.asarray(weights[name])
    if a.dtype.kind not in "fiu":
        raise TypeError(
            f"weights[{name!r}] has dtype {a.dtype}; pass real numbers (float32 or "
            "float64; integers are read as float64).")
    return a


def read_state_dict(weights):
    """Check the state_dict ``weights`` (a mapping of names to anything
    ``np.asarray`` reads) and return it as a :class:`StateDict`; a
    ``ValueError`` names any unknown or missing entry, wrong shape or
    non-finite value, and what was expected."""
    if not (hasattr(weights, "keys") and hasattr(weights, "__getitem__")):
        raise TypeError(
            f"weights must be a mapping of names to arrays, such as "
            "{k: v.numpy() for k, v in module.state_dict().items()}, "
            "safetensors.numpy.load_file(path) or np.load(path) of an .npz file; "
            f"got {type(weights).__name__}.")
    found, name_of = _parse_names(weights)
    n_layers = max(k for k, _, _ in found) + 1
    n_directions = 1 + max(d for _, d, _ in found)
    expected = [name_of(k, d, kind) for k in range(n_layers)
                for d in range(n_directions) for kind in _KINDS]
    expected += [n for n in _HEAD]
    missing = [n for n in expected if n not in weights.keys()]
    if missing:
        raise ValueError(
            f"weights lacks {_shown(missing)}: every layer needs weight_ih, "
            "weight_hh, bias_ih and bias_hh for each direction (a bidirectional "
            "layer's are all bidirectional), and the head needs head.weight and "
            f"head.bias. {_NAMING}.")
    arrays = {n: _real_array(weights, n) for n in expected}
    dtype = (np.float32 if all(a.dtype == np.float32 for a in arrays.values())
             else np.float64)
    bad = [n for n, a in arrays.items() if not np.isfinite(a).all()]
    if bad:
        raise ValueError(
            f"weights has NaN or infinite values in {_shown(bad)}; pass finite "
            "weights (a model that diverged in training cannot be read).")

    def shaped(name, shape, why):
        a = arrays[name]
        if a.shape != shape:
            raise ValueError(
                f"weights[{name!r}] has shape {a.shape}; for {why} it should be "
                f"{shape}.")
        return np.array(a, dtype=dtype, order="C", copy=True)

    cell, gates, sizes, recurrent, n_in = None, None, [], [], None
    for k in range(n_layers):
        U0 = arrays[name_of(k, 0, "weight_hh")]
        if U0.ndim != 2 or U0.shape[1] < 1 or U0.shape[0] not in (
                3 * U0.shape[1], 4 * U0.shape[1]):
            raise ValueError(
                f"weights[{name_of(k, 0, 'weight_hh')!r}] has shape {U0.shape}; a "
                "recurrent weight is (4H, H) for an LSTM or (3H, H) for a GRU of "
                "H units.")
        H = U0.shape[1]
        layer_gates = U0.shape[0] // H
        if gates is None:
            gates, cell = layer_gates, ("lstm" if layer_gates == 4 else "gru")
        elif layer_gates != gates:
            raise ValueError(
                f"weights[{name_of(k, 0, 'weight_hh')!r}] has shape {U0.shape}, a "
                f"{'GRU' if layer_gates == 3 else 'LSTM'}, but layer 0 is an "
                f"{'LSTM' if gates == 4 else 'GRU'}; every layer has the same cell.")
        if k == 0:
            W0 = arrays[name_of(0, 0, "weight_ih")]
            if W0.ndim != 2 or W0.shape[1] < 1:
                raise ValueError(
                    f"weights[{name_of(0, 0, 'weight_ih')!r}] has shape {W0.shape}; "
                    f"an input weight is ({gates}H, n_inputs).")
            n_in = n_inputs = W0.shape[1]
        layer = []
        for d in range(n_directions):
            unit = f"{'LSTM' if gates == 4 else 'GRU'} of {H} units"
            source = ("the inputs" if k == 0 else
                      f"layer {k - 1}'s {n_in} outputs")
            W = shaped(name_of(k, d, "weight_ih"), (gates * H, n_in),
                       f"an {unit} reading {source}")
            U = shaped(name_of(k, d, "weight_hh"), (gates * H, H), f"an {unit}")
            b_ih = shaped(name_of(k, d, "bias_ih"), (gates * H,), f"an {unit}")
            b_hh = shaped(name_of(k, d, "bias_hh"), (gates * H,), f"an {unit}")
            layer.append(make_cell(cell).from_torch(W, U, b_ih, b_hh))
        recurrent.append(layer)
        sizes.append(H)
        n_in = H * n_directions
    coef = arrays["head.weight"]
    if coef.ndim != 2 or coef.shape[0] < 1:
        raise ValueError(
            f"weights['head.weight'] has shape {coef.shape}; the head is "
            f"(n_outputs, {n_in}).")
    why = (f"a head reading the last layer's {sizes[-1]} units"
           f"{' in two directions' if n_directions == 2 else ''}")
    coef = shaped("head.weight", (coef.shape[0], n_in), why)
    intercept = shaped("head.bias", (coef.shape[0],),
                       f"head.weight's {coef.shape[0]} rows")
    return StateDict(cell, tuple(sizes), n_directions == 2, recurrent, coef,
                     intercept, n_inputs)
