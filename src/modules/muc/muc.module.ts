// Multi-user chat (XEP-0045) as a service domain per host (conference.<host> by default), listed
// in the host's disco#items (XEP-0030); with XEP-0421, XEP-0410, XEP-0313 rooms, XEP-0359, XEP-0249.
import { defineModule } from "../../core/module.js";
import type { DiscoService } from "../disco/disco.module.js";
import type { MamService } from "../mam/mam.module.js";
import { MucService, type ArchiveQueries } from "./service.js";
import { mucStores, type MucStores } from "./storage.js";

/** The service domain of a host: `<muc.subdomain>.<host>`. */
export function mucDomain(subdomain: string, host: string): string {
  return `${subdomain}.${host}`;
}

export const mucModule = defineModule({
  name: "muc",
  specs: ["XEP-0045", "XEP-0421", "XEP-0410", "XEP-0313", "XEP-0359", "XEP-0249", "XEP-0203"],
  after: ["disco", "mam"],
  // A disabled service keeps nothing (and the privacy page lists nothing for it)
  stores: (config) => (config.muc.enabled ? mucStores(config) : ({} as ReturnType<typeof mucStores>)),
  async setup(ctx) {
    const cfg = ctx.config.muc;
    if (!cfg.enabled) return;
    const service = new MucService(
      ctx.core,
      ctx.log,
      {
        rooms: ctx.stores.muc_rooms,
        affiliations: ctx.stores.muc_affiliations,
        archive: ctx.stores.muc_archive,
        vcards: ctx.stores.muc_vcards,
      } as MucStores,
      () => ctx.use<MamService>("mam")?.queries as unknown as ArchiveQueries | undefined,
      ctx.config.archive.maxPageSize,
    );
    const domains = ctx.config.hosts.map((h) => mucDomain(cfg.subdomain, h));
    await service.loadAll(domains);
    ctx.config.hosts.forEach((host, i) => {
      const domain = domains[i]!;
      ctx.component(domain, (ev) => service.handle(ev));
      ctx.use<DiscoService>("disco")?.addItem(host, { jid: domain, name: "Chatrooms" });
    });
    // The account's rooms, affiliations, nicks and (by default) messages go with it
    ctx.on("account/deleting", async ({ jid }) => {
      await service.accountDeleted(jid.bareString);
    });
    ctx.on("server/stopping", () => service.shutdown());
    ctx.provide("muc", service);
  },
});
