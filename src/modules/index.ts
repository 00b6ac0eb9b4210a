// Every feature module the server ships, in load order. The composition root (server.ts) loads
// these; `modules.disabled` in the configuration turns any of them off.
import type { ModuleManifest } from "../core/module.js";
import { discoModule } from "./disco/disco.module.js";
import { messageModule } from "./message/message.module.js";
import { pingModule } from "./ping/ping.module.js";
import { registerModule } from "./register/register.module.js";
import { rosterModule } from "./roster/roster.module.js";
import { presenceModule } from "./presence/presence.module.js";
import { timeModule } from "./time/time.module.js";
import { versionModule } from "./version/version.module.js";

export const allModules: ModuleManifest<any>[] = [
  discoModule,
  rosterModule,
  presenceModule,
  messageModule,
  registerModule,
  pingModule,
  versionModule,
  timeModule,
];
