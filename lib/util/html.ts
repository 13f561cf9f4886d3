/** The one HTML escape: text or attribute values put into markup the package writes (error pages, script tags). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
