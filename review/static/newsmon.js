// newsmon: readable row pages, folded column descriptions, and a compact articles table.
document.addEventListener("DOMContentLoaded", () => {
  document.documentElement.lang = document.documentElement.lang || "en";
  const body = document.body;
  const table = document.querySelector("table.rows-and-columns");
  if (body.classList.contains("row") && table) {
    const labels = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    table.querySelectorAll("tbody tr").forEach((tr) => {
      [...tr.children].forEach((td, i) => { td.dataset.label = labels[i] || ""; });
    });
    // An article's page is titled with its headline, not "articles: 1".
    const title = body.classList.contains("table-articles") && table.querySelector("td.col-title");
    const heading = document.querySelector("h1");
    if (title && heading && title.textContent.trim()) {
      heading.textContent = title.textContent.trim();
      document.title = `${title.textContent.trim()} — newsmon`;
    }
  }
  if (body.classList.contains("table") && body.classList.contains("table-articles") && table) {
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "newsmon-columns-toggle";
    const label = () => (body.classList.contains("newsmon-all-columns")
      ? "Show fewer columns" : "Show all columns");
    toggle.textContent = label();
    toggle.setAttribute("aria-controls", "newsmon-articles");
    table.id = table.id || "newsmon-articles";
    toggle.addEventListener("click", () => {
      body.classList.toggle("newsmon-all-columns");
      toggle.textContent = label();
    });
    (table.closest(".table-wrapper") || table).before(toggle);
  }
  const descriptions = document.querySelector("dl.column-descriptions");
  if (descriptions) {
    const details = document.createElement("details");
    details.className = "newsmon-columns";
    details.innerHTML = "<summary>What the columns mean</summary>";
    descriptions.replaceWith(details);
    details.appendChild(descriptions);
  }
});
