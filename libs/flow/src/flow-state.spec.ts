import { FlowEvent, FlowState, transition } from './flow-state';

const { OPEN, LOCAL_FIN, REMOTE_FIN, CLOSED } = FlowState;

/** The whole table: state × event → next state, null = protocol violation. */
const TABLE: ReadonlyArray<readonly [FlowState, FlowEvent, FlowState | null]> = [
  [OPEN, FlowEvent.LOCAL_FIN, LOCAL_FIN],
  [OPEN, FlowEvent.REMOTE_FIN, REMOTE_FIN],
  [OPEN, FlowEvent.REMOTE_DATA, OPEN],
  [OPEN, FlowEvent.RESET, CLOSED],

  [LOCAL_FIN, FlowEvent.LOCAL_FIN, null],
  [LOCAL_FIN, FlowEvent.REMOTE_FIN, CLOSED],
  [LOCAL_FIN, FlowEvent.REMOTE_DATA, LOCAL_FIN],
  [LOCAL_FIN, FlowEvent.RESET, CLOSED],

  [REMOTE_FIN, FlowEvent.LOCAL_FIN, CLOSED],
  [REMOTE_FIN, FlowEvent.REMOTE_FIN, null],
  [REMOTE_FIN, FlowEvent.REMOTE_DATA, null],
  [REMOTE_FIN, FlowEvent.RESET, CLOSED],

  // Late frames after the end are absorbed, never violations.
  [CLOSED, FlowEvent.LOCAL_FIN, CLOSED],
  [CLOSED, FlowEvent.REMOTE_FIN, CLOSED],
  [CLOSED, FlowEvent.REMOTE_DATA, CLOSED],
  [CLOSED, FlowEvent.RESET, CLOSED],
];

describe('flow state transitions', () => {
  it('the table covers every state × event exactly once', () => {
    const cells = new Set(TABLE.map(([s, e]) => `${s}/${e}`));
    expect(cells.size).toBe(TABLE.length);
    expect(TABLE.length).toBe(Object.values(FlowState).length * Object.values(FlowEvent).length);
  });

  it.each(TABLE)('%s --%s--> %s', (state, event, next) => {
    expect(transition(state, event)).toBe(next);
  });

  it('both FIN orders end CLOSED; a second FIN from the same side is a violation', () => {
    expect(transition(transition(OPEN, FlowEvent.LOCAL_FIN)!, FlowEvent.REMOTE_FIN)).toBe(CLOSED);
    expect(transition(transition(OPEN, FlowEvent.REMOTE_FIN)!, FlowEvent.LOCAL_FIN)).toBe(CLOSED);
    expect(transition(transition(OPEN, FlowEvent.REMOTE_FIN)!, FlowEvent.REMOTE_FIN)).toBeNull();
  });
});
