/*
 * The little geography the map draws under the data: the Atlantic coast of
 * Brazil's Northeast from Maranhão to the south of Bahia, the lower São
 * Francisco river, and the states' initials. Hand-made from well-known coastal
 * towns and capes (WGS 84, to about 5 km): an outline to find one's way, not a
 * survey. Cities and roads come from the database (GET /api/v1/network/map).
 * Points are [lon, lat].
 */

/* North-west to south, along the shore. The land polygon closes far inland (west). */
export const COAST = [
  [-44.4, -2.5], [-43.4, -2.45], [-42.27, -2.76], [-41.8, -2.85], [-41.3, -2.9], [-40.84, -2.88], [-40.5, -2.79],
  [-40.12, -2.88], [-39.6, -3.1], [-39.03, -3.41], [-38.52, -3.72], [-38.39, -3.87], [-38.2, -4.08], [-37.98, -4.22],
  [-37.7, -4.52], [-37.35, -4.7], [-37.13, -4.95], [-36.63, -5.1], [-36.27, -5.09], [-35.95, -5.05], [-35.46, -5.17],
  [-35.38, -5.27], [-35.26, -5.52], [-35.19, -5.76], [-35.15, -5.9], [-35.04, -6.23], [-34.99, -6.4], [-34.93, -6.69],
  [-34.85, -6.97], [-34.79, -7.15], [-34.81, -7.47], [-34.83, -7.75], [-34.84, -8.0], [-34.89, -8.14], [-34.95, -8.36],
  [-35.0, -8.5], [-35.1, -8.76], [-35.15, -8.9], [-35.22, -9.01], [-35.26, -9.09], [-35.37, -9.26], [-35.5, -9.4],
  [-35.7, -9.67], [-35.9, -9.85], [-36.17, -10.13], [-36.4, -10.5], [-36.85, -10.72], [-37.05, -10.97], [-37.15, -11.1],
  [-37.3, -11.3], [-37.35, -11.47], [-37.5, -11.68], [-37.62, -11.9], [-37.77, -12.2], [-38.0, -12.5], [-38.1, -12.65],
  [-38.18, -12.76], [-38.36, -12.95], [-38.53, -13.01],
  // Baía de Todos-os-Santos: Salvador's shore inside the bay, then round to its western side.
  [-38.51, -12.9], [-38.55, -12.78], [-38.62, -12.7], [-38.74, -12.67], [-38.86, -12.8], [-38.8, -12.96],
  [-38.92, -13.12], [-39.07, -13.37], [-39.1, -13.94], [-38.99, -14.28], [-39.03, -14.79], [-39.07, -15.29],
  [-38.95, -15.68], [-38.88, -15.86], [-39.1, -16.4], [-39.2, -17.2],
];

export const LAND = COAST.concat([[-47, -17.2], [-47, -2.5]]);

/* The São Francisco from Remanso down to its mouth between Alagoas and Sergipe. */
export const RIVER = [
  [-42.08, -9.62], [-41.3, -9.55], [-40.82, -9.45], [-40.5, -9.41], [-39.9, -8.95], [-39.31, -8.55], [-38.97, -8.75],
  [-38.6, -8.9], [-38.22, -9.0], [-38.21, -9.4], [-37.76, -9.62], [-37.44, -9.75], [-37.1, -9.98], [-36.84, -10.21],
  [-36.58, -10.29], [-36.4, -10.5],
];

export const STATES = [
  ['PI', -42.0, -7.4], ['CE', -39.4, -5.3], ['RN', -36.65, -5.85], ['PB', -36.9, -7.35], ['PE', -37.9, -8.55],
  ['AL', -36.55, -9.4], ['SE', -37.45, -10.55], ['BA', -40.6, -12.2],
];

/* Equirectangular, with longitudes shrunk by the cosine of the middle latitude: true enough at this scale. */
export function projector(bounds, unitsPerDegree = 100) {
  const midLat = (bounds.minLat + bounds.maxLat) / 2;
  const kx = unitsPerDegree * Math.cos((midLat * Math.PI) / 180);
  const ky = unitsPerDegree;
  return {
    x: (lon) => (lon - bounds.minLon) * kx,
    y: (lat) => (bounds.maxLat - lat) * ky,
    width: (bounds.maxLon - bounds.minLon) * kx,
    height: (bounds.maxLat - bounds.minLat) * ky,
  };
}

export function boundsOf(points, pad) {
  const b = { minLon: Infinity, maxLon: -Infinity, minLat: Infinity, maxLat: -Infinity };
  for (const [lon, lat] of points) {
    b.minLon = Math.min(b.minLon, lon);
    b.maxLon = Math.max(b.maxLon, lon);
    b.minLat = Math.min(b.minLat, lat);
    b.maxLat = Math.max(b.maxLat, lat);
  }
  b.minLon -= pad;
  b.maxLon += pad;
  b.minLat -= pad;
  b.maxLat += pad;
  return b;
}

export function pathOf(points, proj, close) {
  return points.map(([lon, lat], i) => (i ? 'L' : 'M') + proj.x(lon).toFixed(1) + ' ' + proj.y(lat).toFixed(1)).join('') + (close ? 'Z' : '');
}
