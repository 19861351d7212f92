use super::*;

const ALL_STATES: [State; 8] = [
    State::Unassociated,
    State::I1Sent,
    State::I2Sent,
    State::R2Sent,
    State::Established,
    State::Closing,
    State::Closed,
    State::EFailed,
];

fn all_inputs() -> Vec<Input> {
    let mut v = vec![
        Input::UserDataToSend,
        Input::I1,
        Input::Notify,
        Input::UserDataReceived,
        Input::Timeout,
        Input::RetriesExhausted,
        Input::UalExpired,
        Input::LingerExpired,
    ];
    for ok in [false, true] {
        v.extend([
            Input::R1 { ok },
            Input::I2 { ok },
            Input::R2 { ok },
            Input::Update { ok },
            Input::Close { ok },
            Input::CloseAck { ok },
        ]);
    }
    v
}

#[test]
fn failed_processing_never_changes_state() {
    for s in ALL_STATES {
        for o in [HitOrder::LocalGreater, HitOrder::LocalSmaller] {
            for i in all_inputs() {
                let failed = matches!(
                    i,
                    Input::R1 { ok: false }
                        | Input::I2 { ok: false }
                        | Input::R2 { ok: false }
                        | Input::Update { ok: false }
                        | Input::Close { ok: false }
                        | Input::CloseAck { ok: false }
                );
                if failed {
                    assert_eq!(step(s, i, o), st(s, Action::Drop), "{s:?} {i:?}");
                }
            }
        }
    }
}

#[test]
fn established_only_reachable_through_valid_r2_or_after_r2_sent() {
    for s in ALL_STATES {
        for o in [HitOrder::LocalGreater, HitOrder::LocalSmaller] {
            for i in all_inputs() {
                let n = step(s, i, o).next;
                if n == State::Established && s != State::Established {
                    let allowed =
                        (s == State::I2Sent && i == Input::R2 { ok: true }) || s == State::R2Sent;
                    assert!(allowed, "{s:?} --{i:?}--> ESTABLISHED");
                }
            }
        }
    }
}

#[test]
fn notify_never_changes_state() {
    for s in ALL_STATES {
        assert_eq!(step(s, Input::Notify, HitOrder::LocalGreater).next, s);
    }
}

#[test]
fn base_exchange_path() {
    let o = HitOrder::LocalSmaller;
    // Initiator.
    let a = step(State::Unassociated, Input::UserDataToSend, o);
    assert_eq!(a, st(State::I1Sent, Action::SendI1));
    let a = step(a.next, Input::R1 { ok: true }, o);
    assert_eq!(a, st(State::I2Sent, Action::SendI2));
    let a = step(a.next, Input::R2 { ok: true }, o);
    assert_eq!(a.next, State::Established);
    // Responder: stateless R1, then R2 on a valid I2.
    let b = step(State::Unassociated, Input::I1, o);
    assert_eq!(b, st(State::Unassociated, Action::SendR1));
    let b = step(b.next, Input::I2 { ok: true }, o);
    assert_eq!(b, st(State::R2Sent, Action::SendR2));
    let b = step(b.next, Input::UserDataReceived, o);
    assert_eq!(b.next, State::Established);
}

#[test]
fn simultaneous_opening_uses_hit_comparison() {
    // Both sides in I1-SENT receive the other's I1: only the greater HIT answers.
    assert_eq!(
        step(State::I1Sent, Input::I1, HitOrder::LocalGreater).action,
        Action::SendR1
    );
    assert_eq!(
        step(State::I1Sent, Input::I1, HitOrder::LocalSmaller).action,
        Action::Drop
    );
    // Both in I2-SENT receive an I2: the smaller HIT becomes responder.
    assert_eq!(
        step(
            State::I2Sent,
            Input::I2 { ok: true },
            HitOrder::LocalSmaller
        ),
        st(State::R2Sent, Action::SendR2)
    );
    assert_eq!(
        step(
            State::I2Sent,
            Input::I2 { ok: true },
            HitOrder::LocalGreater
        ),
        st(State::I2Sent, Action::Drop)
    );
}

#[test]
fn i2_in_established_and_closing_restarts() {
    for s in [State::Established, State::Closing, State::Closed] {
        assert_eq!(
            step(s, Input::I2 { ok: true }, HitOrder::LocalGreater),
            st(State::R2Sent, Action::SendR2)
        );
    }
}

#[test]
fn retries_exhausted() {
    let o = HitOrder::LocalGreater;
    assert_eq!(
        step(State::I1Sent, Input::RetriesExhausted, o).next,
        State::EFailed
    );
    assert_eq!(
        step(State::I2Sent, Input::RetriesExhausted, o).next,
        State::EFailed
    );
    assert_eq!(
        step(State::Closing, Input::RetriesExhausted, o),
        st(State::Unassociated, Action::Discard)
    );
    assert_eq!(
        step(State::EFailed, Input::LingerExpired, o),
        st(State::Unassociated, Action::Discard)
    );
}

#[test]
fn close_handshake() {
    let o = HitOrder::LocalGreater;
    let a = step(State::Established, Input::UalExpired, o);
    assert_eq!(a, st(State::Closing, Action::SendClose));
    let b = step(State::Established, Input::Close { ok: true }, o);
    assert_eq!(b, st(State::Closed, Action::SendCloseAck));
    assert_eq!(
        step(a.next, Input::CloseAck { ok: true }, o),
        st(State::Unassociated, Action::Discard)
    );
    assert_eq!(
        step(b.next, Input::LingerExpired, o),
        st(State::Unassociated, Action::Discard)
    );
}

#[test]
fn hit_order() {
    let a = crate::Hit([1; 16]);
    let b = crate::Hit([2; 16]);
    assert_eq!(HitOrder::of(&b, &a), HitOrder::LocalGreater);
    assert_eq!(HitOrder::of(&a, &b), HitOrder::LocalSmaller);
}
