// The example stack's web UI: lists, adds and removes items through the client generated from
// api/schema.yml (linked in as @example/api by the web-bundle step).
import { createItem, deleteItem, getHealth, listItems, type Item } from "@example/api";

const list = document.querySelector<HTMLUListElement>("#items")!;
const form = document.querySelector<HTMLFormElement>("#add")!;
const status = document.querySelector<HTMLElement>("#status")!;

function render(items: Item[]): void {
  list.replaceChildren(
    ...items.map((item) => {
      const li = document.createElement("li");
      li.textContent = `${item.id}: ${item.name}${item.done ? " (done)" : ""}`;
      const remove = document.createElement("button");
      remove.textContent = "remove";
      remove.addEventListener("click", async () => {
        await deleteItem({ path: { id: item.id } });
        await refresh();
      });
      li.append(" ", remove);
      return li;
    }),
  );
}

async function refresh(): Promise<void> {
  const { data } = await listItems();
  render(data ?? []);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = new FormData(form).get("name");
  if (typeof name !== "string" || name === "") return;
  await createItem({ body: { name } });
  form.reset();
  await refresh();
});

const health = await getHealth();
status.textContent = health.data ? `server ${health.data.version}: ${health.data.status}` : "server unreachable";
await refresh();
