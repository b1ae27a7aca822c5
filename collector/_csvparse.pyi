import numpy as np
import numpy.typing as npt

def parse_block(
    data: bytes,
    ncols: int,
    slot: npt.NDArray[np.intc],
    nan_ok: npt.NDArray[np.uint8],
    delimiter: int,
) -> tuple[npt.NDArray[np.float64] | None, int]: ...
