// The API's answer shapes as the server declares them (src/api/contract.ts). Types only:
// nothing of the server (nor TypeBox) reaches the browser bundle.
import type { Static } from 'typebox';
import type * as C from '../../src/api/contract.ts';

export type Extension = Static<typeof C.ExtensionView>;
export type Device = Static<typeof C.DeviceView>;
export type Registration = Static<typeof C.RegistrationView>;
export type ActiveCall = Static<typeof C.ActiveCallView>;
export type Cdr = Static<typeof C.CdrView>;
export type Trunk = Static<typeof C.TrunkView>;
export type Dashboard = Static<typeof C.Dashboard>;
export type Status = Static<typeof C.Status>;
