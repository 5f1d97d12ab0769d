"""`cut`, the rescale of every balance change, is `Decimal.quantize(quant, ROUND_DOWN)` in the exchange
context to the last digit and exponent: signs, zeros, values cut to zero, too many digits (NaN)."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from hypothesis import given
from hypothesis import strategies as st

from common.decimals import cut, install_context, quantum


@given(st.integers(min_value=-(10**40), max_value=10**40), st.integers(min_value=-30, max_value=10),
       st.integers(min_value=0, max_value=24))
def test_cut_is_quantize_toward_zero(coefficient: int, exponent: int, prec: int) -> None:
    install_context()
    value = Decimal(coefficient).scaleb(exponent)
    quant = quantum(prec)
    assert str(cut(value, quant)) == str(value.quantize(quant, ROUND_DOWN))


def test_cut_keeps_the_exponent_of_zero_and_of_what_it_cuts_to_zero() -> None:
    install_context()
    assert str(cut(Decimal("0"), quantum(8))) == "0e-8"
    assert str(cut(Decimal("0.000000001"), quantum(8))) == "0e-8"
    assert str(cut(Decimal("-1.999999999"), quantum(8))) == "-1.99999999"
