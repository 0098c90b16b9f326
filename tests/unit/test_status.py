from gateway.domain import status as st
from gateway.domain.status import FilingView


def views(**states):
    types = {"order": "CEB311Message", "payment": "CEB411Message", "waybill": "CEB511Message",
             "inventory": "CEB621Message"}
    return [FilingView(types[k], "customs", v, "退单原因" if v == st.REJECTED else None) for k, v in states.items()]


def test_codes_map_to_states():
    assert st.state_for_code("2") == st.DECLARED
    assert st.state_for_code("120") == st.ACCEPTED
    assert st.state_for_code("500") == st.REVIEW
    assert st.state_for_code("399") == st.CONCLUDED
    assert st.state_for_code("800") == st.RELEASED
    assert st.state_for_code("899") == st.RELEASED
    assert st.state_for_code("100") == st.REJECTED
    assert st.state_for_code("-621005") == st.REJECTED


def test_only_forward_moves():
    assert st.moves_forward(st.SENT, st.DECLARED)
    assert st.moves_forward(st.ACCEPTED, st.CONCLUDED)
    assert not st.moves_forward(st.CONCLUDED, st.ACCEPTED)     # a late 120 after 399
    assert not st.moves_forward(st.RELEASED, st.RELEASED)      # duplicate
    assert st.moves_forward(st.ACCEPTED, st.REJECTED)
    assert not st.moves_forward(st.REJECTED, st.RELEASED)      # rejection is final


def test_released_only_when_every_filing_is_done():
    assert st.combined_status(views(order=st.ACCEPTED, payment=st.ACCEPTED, waybill=st.ACCEPTED,
                                    inventory=st.RELEASED)) == (st.ORDER_RELEASED, None)
    assert st.combined_status(views(order=st.ACCEPTED, payment=st.ACCEPTED, waybill=st.ACCEPTED,
                                    inventory=st.CONCLUDED))[0] == st.IN_PROGRESS
    # the inventory is done only at release, the order at 120
    assert st.combined_status(views(order=st.DECLARED, payment=st.ACCEPTED, waybill=st.ACCEPTED,
                                    inventory=st.RELEASED))[0] == st.IN_PROGRESS


def test_rejected_with_reasons():
    status, reason = st.combined_status(views(order=st.ACCEPTED, payment=st.ACCEPTED, waybill=st.ACCEPTED,
                                              inventory=st.REJECTED))
    assert status == st.ORDER_REJECTED
    assert "CEB621Message" in reason and "退单原因" in reason


def test_per_agency():
    v = views(order=st.ACCEPTED, inventory=st.DECLARED)
    assert st.per_agency(v) == {"customs": st.IN_PROGRESS}
