// Shared by the jobs pages: paint a job's live fields into the elements marked with data-role.
const mpJobs = {
  badge: {succeeded: "ok", failed: "bad", cancelled: "warn"},
  paint(el, job) {
    const set = (role, text) => el.querySelectorAll(`[data-role="${role}"]`).forEach(n => { n.textContent = text; });
    set("state", job.state);
    el.querySelectorAll('[data-role="state"]').forEach(n => { n.className = "badge " + (mpJobs.badge[job.state] || ""); });
    set("progress", job.progress_text);
    set("rate", job.rate_text);
    set("eta", job.eta_text);
    el.querySelectorAll('[data-role="bar"]').forEach(n => { n.style.width = ((job.fraction || 0) * 100) + "%"; });
  },
};
