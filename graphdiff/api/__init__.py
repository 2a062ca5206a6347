"""The user-facing API: numpy-named functions over symbolic tensors.

Each module lists its public names in ``__all__``; this package re-exports them all, except
``linalg``, which is the namespace ``gd.linalg`` (as numpy.linalg).
"""

from . import (
    control,
    conv,
    creation,
    indexing,
    linalg,
    math,
    matrices,
    nn,
    operators,
    quantiles,
    reductions,
    selection,
    shape,
    sorting,
    stacking,
    ufuncs,
)
from .control import *  # noqa: F403
from .conv import *  # noqa: F403
from .convert import as_tensor
from .creation import *  # noqa: F403
from .indexing import *  # noqa: F403
from .math import *  # noqa: F403
from .matrices import *  # noqa: F403
from .nn import *  # noqa: F403
from .quantiles import *  # noqa: F403
from .reductions import *  # noqa: F403
from .selection import *  # noqa: F403
from .shape import *  # noqa: F403
from .sorting import *  # noqa: F403
from .stacking import *  # noqa: F403
from .ufuncs import *  # noqa: F403

operators.install()

__all__ = [
    "as_tensor", *control.__all__, *conv.__all__, *creation.__all__, *indexing.__all__,
    *math.__all__, *matrices.__all__, *nn.__all__, *quantiles.__all__, *reductions.__all__,
    *selection.__all__, *shape.__all__, *sorting.__all__, *stacking.__all__, *ufuncs.__all__,
]
