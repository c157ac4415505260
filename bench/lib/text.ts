/**
 * English-like text for synthetic chat examples: sentences of common words with a skewed (Zipf-like)
 * frequency, capitalised, punctuated, the occasional number, quote or comma - so that it compresses
 * roughly like real chat transcripts (about 3x with zstd), not like random bytes or a repeated string.
 */
import type { Rng } from './prng.js';

const WORDS = (
  'the of and to a in is it you that he was for on are with as I his they be at one have this from or had ' +
  'by not word but what some we can out other were all there when up use your how said an each she which do ' +
  'their time if will way about many then them write would like so these her long make thing see him two has ' +
  'look more day could go come did number sound no most people my over know water than call first who may ' +
  'down side been now find any new work part take get place made live where after back little only round man ' +
  'year came show every good me give our under name very through just form sentence great think say help low ' +
  'line differ turn cause much mean before move right boy old too same tell does set three want air well also ' +
  'play small end put home read hand port large spell add even land here must big high such follow act why ask ' +
  'men change went light kind off need house picture try us again animal point mother world near build self ' +
  'earth father head stand own page should country found answer school grow study still learn plant cover food ' +
  'sun four between state keep eye never last let thought city tree cross farm hard start might story saw far ' +
  'sea draw left late run while press close night real life few north open seem together next white children ' +
  'begin got walk example ease paper group always music those both mark often letter until mile river car feet ' +
  'care second book carry took science eat room friend began idea fish mountain stop once base hear horse cut ' +
  'sure watch color face wood main enough plain girl usual young ready above ever red list though feel talk ' +
  'bird soon body dog family direct pose leave song measure door product black short numeral class wind ' +
  'question happen complete ship area half rock order fire south problem piece told knew pass since top whole ' +
  'king space heard best hour better true during hundred five remember step early hold west ground interest ' +
  'reach fast verb sing listen six table travel less morning ten simple several vowel toward war lay against ' +
  'pattern slow center love person money serve appear road map rain rule govern pull cold notice voice unit ' +
  'power town fine certain fly fall lead cry dark machine note wait plan figure star box noun field rest ' +
  'correct able pound done beauty drive stood contain front teach week final gave green quick develop ocean ' +
  'warm free minute strong special mind behind clear tail produce fact street inch multiply nothing course ' +
  'stay wheel full force blue object decide surface deep moon island foot system busy test record boat common ' +
  'gold possible plane stead dry wonder laugh thousand ago ran check game shape equate miss brought heat snow ' +
  'tire bring yes distant fill east paint language among model dataset training gradient loss tensor batch ' +
  'function variable compile memory network layer token prompt output input evaluate'
).split(' ');

const STARTERS = [
  'Sure,',
  'Yes,',
  'No,',
  'Well,',
  'First,',
  'Then',
  'In short,',
  'Note that',
  'Also,',
  'However,',
  'For example,',
  'Finally,',
];

/** A word index skewed towards the front of the list (roughly Zipfian). */
function word(rng: Rng): string {
  const u = rng.float();
  return WORDS[Math.floor(u * u * u * WORDS.length)] as string;
}

export function sentence(rng: Rng, minWords: number, maxWords: number, question = false): string {
  const n = rng.range(minWords, maxWords);
  let s = rng.int(5) === 0 ? rng.pick(STARTERS) + ' ' : '';
  for (let i = 0; i < n; i++) {
    let w = word(rng);
    const r = rng.int(40);
    if (r === 0) w = String(rng.int(2000));
    else if (r === 1 && i < n - 1) w += ',';
    else if (r === 2) w = `"${w}"`;
    s += i === 0 ? w : ' ' + w;
  }
  const c = s.charCodeAt(0);
  if (c >= 97 && c <= 122) s = String.fromCharCode(c - 32) + s.slice(1);
  return s + (question ? '?' : rng.int(12) === 0 ? '!' : '.');
}

/** A paragraph of about `targetChars` characters. */
export function paragraph(rng: Rng, targetChars: number, question = false): string {
  const out: string[] = [];
  let len = 0;
  while (len < targetChars) {
    const s = sentence(rng, 5, 18, question && len + 80 >= targetChars);
    out.push(s);
    len += s.length + 1;
  }
  return out.join(' ');
}

export const SYSTEM_PROMPTS = [
  'You are a helpful assistant.',
  'You are a concise assistant. Answer in plain English.',
  'You are a careful tutor who explains each step.',
  'You are an expert reviewer. Point out problems first.',
  'You are a friendly assistant for a small online shop.',
  'You answer questions about science for a general audience.',
  'You are a coding assistant. Prefer short, correct answers.',
  'You summarise documents faithfully and briefly.',
];

export const SOURCES = ['web', 'books', 'forum', 'synthetic', 'support', 'wiki', 'code-review'];
