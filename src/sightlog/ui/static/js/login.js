// Sign-in: the key goes to the server once, which answers with a signed, HttpOnly session cookie.

const form = document.getElementById("login");
const error = document.getElementById("login-error");

/** Where to go after signing in: only a dashboard page of this server (no open redirect). */
function nextPage() {
  const wanted = new URLSearchParams(location.search).get("next") ?? "/ui/";
  const url = new URL(wanted, location.origin);
  return url.origin === location.origin && url.pathname.startsWith("/ui/") ? url.pathname + url.search : "/ui/";
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  error.textContent = "";
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch("/ui/session", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Sightlog-CSRF": "1" },
      body: JSON.stringify({ apiKey: form.elements.apiKey.value.trim() }),
    });
    if (response.ok) {
      location.replace(nextPage());
      return;
    }
    const body = await response.json().catch(() => null);
    error.textContent = body?.error ?? `The server answered ${response.status}.`;
  } catch {
    error.textContent = "The server cannot be reached.";
  }
  button.disabled = false;
  form.elements.apiKey.select();
});
