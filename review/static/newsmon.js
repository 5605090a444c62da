// newsmon: label each field on row pages, and fold the column descriptions away.
document.addEventListener("DOMContentLoaded", () => {
  if (document.body.classList.contains("row")) {
    const table = document.querySelector("table.rows-and-columns");
    if (table) {
      const labels = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
      table.querySelectorAll("tbody tr").forEach((tr) => {
        [...tr.children].forEach((td, i) => { td.dataset.label = labels[i] || ""; });
      });
    }
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
