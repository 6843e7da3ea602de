// The use cases page: counters, create, rename, archive; archived use cases behind a toggle.

import { createUseCase, listUseCases, renameUseCase, setArchived } from "./api.js";
import { fmtAgo, fmtCount, fmtTime, h, humanize, toast } from "./dom.js";

const explorerHref = (id) => `/ui/use-cases/${encodeURIComponent(id)}`;

export async function renderUseCases(main, { params, ctx }) {
  const showArchived = params.get("archived") === "1";
  const canWrite = ctx.canWrite;
  ctx.setTitle("Use cases", []);
  const tableHost = h("div", { class: "card" }, h("p", { class: "muted" }, "Loading…"));
  const toggle = h("label", { class: "switch" }, h("input", {
    type: "checkbox", id: "show-archived", checked: showArchived,
    onchange: (e) => ctx.navigate(e.target.checked ? "/ui/?archived=1" : "/ui/", { replace: true }),
  }), "Show archived");
  const create = canWrite ? h("form", { class: "inline-form", id: "create-use-case" },
    h("input", { name: "name", placeholder: "New use case name", required: true, maxlength: 256, autocomplete: "off" }),
    h("button", { type: "submit", class: "primary" }, "Create")) : null;
  main.append(h("section", { class: "page" },
    h("div", { class: "page-head" }, h("h1", {}, "Use cases"), h("span", { class: "spacer" }), toggle, create),
    tableHost));

  const reload = async () => {
    const { useCases } = await listUseCases(showArchived ? "all" : "active", ctx.signal);
    tableHost.replaceChildren(useCases.length ? table(useCases) : empty());
  };

  create?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = create.elements.name.value.trim();
    try {
      const made = await createUseCase(name);
      create.reset();
      toast(`Created “${made.name}”.`);
      await reload();
    } catch (err) { toast(err.message, "error"); }
  });

  const act = async (work, message) => {
    try {
      await work();
      toast(message);
      await reload();
    } catch (err) { toast(err.message, "error"); }
  };

  function renameForm(useCase, nameCell) {
    const input = h("input", { name: "name", value: useCase.name, required: true, maxlength: 256 });
    const form = h("form", { class: "inline-form rename" }, input,
      h("button", { type: "submit", class: "primary" }, "Save"),
      h("button", { type: "button", class: "ghost", onclick: () => reload() }, "Cancel"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      act(() => renameUseCase(useCase.id, input.value.trim()), "Renamed.");
    });
    nameCell.replaceChildren(form);
    input.select();
  }

  function row(useCase) {
    const archived = useCase.status !== "active";
    const nameCell = h("td", {}, h("a", { href: explorerHref(useCase.id), "data-nav": true, class: "strong" }, useCase.name),
      archived ? h("span", { class: "badge muted" }, "archived") : null,
      h("div", { class: "muted small" }, useCase.id));
    const tr = h("tr", { dataset: { useCase: useCase.id } }, nameCell,
      h("td", { class: "num" }, fmtCount(useCase.eventCount)),
      h("td", { title: fmtTime(useCase.lastEventAt) }, fmtAgo(useCase.lastEventAt)),
      h("td", {}, useCase.eventTypes.map((t) => h("span", { class: `badge type-${t}` }, humanize(t)))));
    if (canWrite) {
      tr.append(h("td", { class: "actions" },
        h("button", { type: "button", class: "ghost", onclick: () => renameForm(useCase, nameCell) }, "Rename"),
        h("button", { type: "button", class: "ghost", onclick: () =>
          act(() => setArchived(useCase.id, !archived), archived ? "Unarchived." : "Archived.") },
        archived ? "Unarchive" : "Archive")));
    }
    return tr;
  }

  const table = (useCases) => h("table", { class: "table", id: "use-cases" },
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "num" }, "Events"), h("th", {}, "Last event"),
      h("th", {}, "Event types"), canWrite ? h("th", {}, "") : null)),
    h("tbody", {}, useCases.map(row)));

  const empty = () => h("div", { class: "empty" },
    h("p", {}, showArchived ? "No use cases yet." : "No active use cases."),
    h("p", { class: "muted" }, "Create one above, send events with the SDK, or seed a demo: ",
      h("code", {}, "sightlog demo --api-key KEY")));

  await reload();
}
