// Every feature module the server ships, in load order. The composition root (server.ts) loads
// these; `modules.disabled` in the configuration turns any of them off.
import type { ModuleManifest } from "../core/module.js";
import { discoModule } from "./disco/disco.module.js";
import { messageModule } from "./message/message.module.js";
import { mamModule } from "./mam/mam.module.js";
import { offlineModule } from "./offline/offline.module.js";
import { blockingModule } from "./blocking/blocking.module.js";
import { carbonsModule } from "./carbons/carbons.module.js";
import { csiModule } from "./csi/csi.module.js";
import { pingModule } from "./ping/ping.module.js";
import { registerModule } from "./register/register.module.js";
import { rosterModule } from "./roster/roster.module.js";
import { presenceModule } from "./presence/presence.module.js";
import { timeModule } from "./time/time.module.js";
import { uploadModule } from "./upload/upload.module.js";
import { versionModule } from "./version/version.module.js";
import { pepModule } from "./pep/pep.module.js";
import { vcardModule } from "./vcard/vcard.module.js";
import { privateModule } from "./private/private.module.js";
import { mucModule } from "./muc/muc.module.js";
import { webModule } from "./web/web.module.js";
import { metricsModule } from "./metrics/metrics.module.js";
import { adhocModule } from "./adhoc/adhoc.module.js";
import { exportModule } from "./export/export.module.js";
import { adminModule } from "./admin/admin.module.js";

export const allModules: ModuleManifest<any>[] = [
  discoModule,
  rosterModule,
  presenceModule,
  messageModule,
  mamModule,
  offlineModule,
  blockingModule,
  carbonsModule,
  csiModule,
  registerModule,
  pingModule,
  versionModule,
  timeModule,
  pepModule,
  vcardModule,
  privateModule,
  uploadModule,
  mucModule,
  webModule,
  metricsModule,
  adhocModule,
  exportModule,
  adminModule,
];
