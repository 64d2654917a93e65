#include "engine/train/text_world.h"

#include <algorithm>
#include <array>
#include <string_view>

#include <fmt/format.h>

#include "engine/core/error.h"

namespace qlab::train {

std::uint64_t WorldRng::next() {
  std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint32_t WorldRng::below(std::uint32_t n) {
  const std::uint64_t limit = (std::uint64_t{1} << 32) / n * n;
  for (;;) {
    std::uint64_t r = next() >> 32;
    if (r < limit) return static_cast<std::uint32_t>(r % n);
  }
}

double WorldRng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

namespace {

struct Person {
  std::string_view name, subj, obj, poss;  // she / her / her
};

constexpr std::array<Person, 32> kPeople{{
    {"Anna", "she", "her", "her"},   {"Ben", "he", "him", "his"},     {"Clara", "she", "her", "her"},
    {"David", "he", "him", "his"},   {"Emma", "she", "her", "her"},   {"Finn", "he", "him", "his"},
    {"Grace", "she", "her", "her"},  {"Hugo", "he", "him", "his"},    {"Iris", "she", "her", "her"},
    {"Jack", "he", "him", "his"},    {"Kate", "she", "her", "her"},   {"Leo", "he", "him", "his"},
    {"Mia", "she", "her", "her"},    {"Noah", "he", "him", "his"},    {"Olive", "she", "her", "her"},
    {"Paul", "he", "him", "his"},    {"Rosa", "she", "her", "her"},   {"Sam", "he", "him", "his"},
    {"Tara", "she", "her", "her"},   {"Victor", "he", "him", "his"},  {"Wendy", "she", "her", "her"},
    {"Omar", "he", "him", "his"},    {"Lucy", "she", "her", "her"},   {"Max", "he", "him", "his"},
    {"Nora", "she", "her", "her"},   {"Tom", "he", "him", "his"},     {"Ella", "she", "her", "her"},
    {"Adam", "he", "him", "his"},    {"Ruby", "she", "her", "her"},   {"Oscar", "he", "him", "his"},
    {"Lily", "she", "her", "her"},   {"Felix", "he", "him", "his"},
}};

constexpr std::array<std::string_view, 12> kColours{"red",   "blue",  "green", "yellow", "black", "white",
                                                    "orange", "purple", "pink", "brown",  "grey",  "gold"};
constexpr std::array<std::string_view, 16> kObjects{"ball", "cup",  "book", "hat",  "box",   "kite", "lamp", "key",
                                                    "shoe", "coat", "bag",  "pen",  "chair", "bike", "boat", "drum"};
constexpr std::array<std::string_view, 12> kPlaces{"park",   "kitchen", "garden", "school", "market",  "library",
                                                   "beach",  "forest",  "station", "farm",  "river", "museum"};
struct Fruit {
  std::string_view one, many;
};
constexpr std::array<Fruit, 8> kFruits{{{"apple", "apples"},
                                        {"pear", "pears"},
                                        {"plum", "plums"},
                                        {"cherry", "cherries"},
                                        {"orange", "oranges"},
                                        {"lemon", "lemons"},
                                        {"egg", "eggs"},
                                        {"cake", "cakes"}}};
constexpr std::array<std::string_view, 21> kNumbers{
    "zero",  "one",    "two",    "three",    "four",     "five",    "six",     "seven",     "eight",    "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"};
constexpr std::array<std::string_view, 6> kTimes{"In the morning", "After lunch", "On Monday",
                                                 "One sunny day", "In the evening", "On Saturday"};

std::string_view article(std::string_view next_word) {
  return std::string_view("aeiou").find(next_word[0]) != std::string_view::npos ? "an" : "a";
}

template <typename T, std::size_t N>
const T& pick(WorldRng& r, const std::array<T, N>& a) {
  return a[r.below(static_cast<std::uint32_t>(N))];
}

// k distinct indices below n.
std::vector<std::uint32_t> distinct(WorldRng& r, std::uint32_t n, int k) {
  std::vector<std::uint32_t> out;
  while (static_cast<int>(out.size()) < k) {
    std::uint32_t v = r.below(n);
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

std::string capital(std::string_view s) {
  std::string o(s);
  if (!o.empty() && o[0] >= 'a' && o[0] <= 'z') o[0] = static_cast<char>(o[0] - 'a' + 'A');
  return o;
}

// A question about a story: its text, the right answer, and answers that would be wrong
// (ones the story also mentions first, so a guess from "words in the story" is not enough).
struct Question {
  std::string text, answer;
  std::vector<std::string> wrong;
};

struct Story {
  std::string text;
  std::vector<Question> questions;
};

template <std::size_t N>
std::vector<std::string> others(const std::array<std::string_view, N>& pool, std::string_view not_this) {
  std::vector<std::string> o;
  for (auto s : pool)
    if (s != not_this) o.emplace_back(s);
  return o;
}

// A trip: someone takes a coloured object somewhere, meets someone, maybe swaps.
Story trip_story(WorldRng& r) {
  auto who = distinct(r, kPeople.size(), 2);
  const Person& a = kPeople[who[0]];
  const Person& b = kPeople[who[1]];
  auto col = distinct(r, kColours.size(), 2);
  auto obj = distinct(r, kObjects.size(), 2);
  std::string_view c1 = kColours[col[0]], c2 = kColours[col[1]];
  std::string_view o1 = kObjects[obj[0]], o2 = kObjects[obj[1]];
  std::string_view place = pick(r, kPlaces);
  bool swap = r.below(2) == 0;
  Story s;
  s.text = fmt::format("{} {} went to the {} with {} {} {}. There {} met {}, who had {} {} {}.", pick(r, kTimes),
                       a.name, place, article(c1), c1, o1, a.subj, b.name, article(c2), c2, o2);
  if (swap)
    s.text += fmt::format(" {} liked the {} {}, so they swapped. {} went home with the {} {}.", b.name, c1, o1,
                          a.name, c2, o2);
  else
    s.text += fmt::format(" They played together, and then {} went home with {} {} {}.", a.name, a.poss, c1, o1);

  auto add_other_colours = [&](Question& q, std::string_view right, std::string_view also) {
    if (also != right) q.wrong.emplace_back(also);
    for (auto& c : others(kColours, right))
      if (c != also) q.wrong.push_back(c);
  };
  Question q1{fmt::format("What colour was the {} that {} took to the {}?", o1, a.name, place), std::string(c1), {}};
  add_other_colours(q1, c1, c2);
  Question q2{fmt::format("What colour was the {} of {}?", o2, b.name), std::string(c2), {}};
  add_other_colours(q2, c2, c1);
  Question q3{fmt::format("Where did {} go?", a.name), std::string(place), others(kPlaces, place)};
  Question q4{fmt::format("Who did {} meet at the {}?", a.name, place), std::string(b.name), {}};
  q4.wrong.emplace_back(a.name);
  for (auto& p : kPeople)
    if (p.name != a.name && p.name != b.name) q4.wrong.emplace_back(p.name);
  std::string_view home_o = swap ? o2 : o1, other_o = swap ? o1 : o2;
  Question q5{fmt::format("What did {} take home?", a.name), fmt::format("the {}", home_o), {}};
  q5.wrong.push_back(fmt::format("the {}", other_o));
  for (auto o : kObjects)
    if (o != home_o && o != other_o) q5.wrong.push_back(fmt::format("the {}", o));
  s.questions = {q1, q2, q3, q4, q5};
  return s;
}

// Counting: someone has some fruit, gains or loses some.
Story count_story(WorldRng& r) {
  auto who = distinct(r, kPeople.size(), 2);
  const Person& a = kPeople[who[0]];
  const Person& b = kPeople[who[1]];
  const Fruit& f = pick(r, kFruits);
  int n = 1 + static_cast<int>(r.below(10));
  bool gain = r.below(2) == 0 || n < 2;
  int m = gain ? 1 + static_cast<int>(r.below(10)) : 1 + static_cast<int>(r.below(static_cast<std::uint32_t>(n - 1)));
  int result = gain ? n + m : n - m;
  Story s;
  s.text = fmt::format("{} had {} {}. ", a.name, kNumbers[n], n == 1 ? f.one : f.many);
  if (gain)
    s.text += fmt::format("{} gave {} {} more. Now {} has {} {}.", b.name, a.obj, kNumbers[m], a.name,
                          kNumbers[result], result == 1 ? f.one : f.many);
  else
    s.text += fmt::format("{} gave {} of them to {}. Now {} has {} {}.", capital(a.subj), kNumbers[m], b.name,
                          a.name, kNumbers[result], result == 1 ? f.one : f.many);
  Question q{fmt::format("How many {} did {} have at first?", f.many, a.name), std::string(kNumbers[n]), {}};
  q.wrong.emplace_back(kNumbers[m]);
  Question q2{fmt::format("How many {} does {} have now?", f.many, a.name), std::string(kNumbers[result]), {}};
  q2.wrong.emplace_back(kNumbers[n]);
  for (int i = 0; i <= 20; ++i) {
    if (i != n && i != m) q.wrong.emplace_back(kNumbers[i]);
    if (i != n && i != result) q2.wrong.emplace_back(kNumbers[i]);
  }
  s.questions = {q, q2};
  return s;
}

// Plain statements: who owns what colour, who likes what, small sums.
Story facts_story(WorldRng& r) {
  Story s;
  int k = 3 + static_cast<int>(r.below(3));
  auto who = distinct(r, kPeople.size(), k);
  for (int i = 0; i < k; ++i) {
    const Person& p = kPeople[who[i]];
    switch (r.below(5)) {
      case 0: {
        std::string_view c = pick(r, kColours), o = pick(r, kObjects);
        s.text += fmt::format("{} has {} {} {}. ", p.name, article(c), c, o);
        Question q{fmt::format("What colour is the {} of {}?", o, p.name), std::string(c), others(kColours, c)};
        s.questions.push_back(q);
        break;
      }
      case 1: {
        std::string_view c = pick(r, kColours);
        s.text += fmt::format("{} likes the colour {}. ", p.name, c);
        s.questions.push_back({fmt::format("Which colour does {} like?", p.name), std::string(c), others(kColours, c)});
        break;
      }
      case 2: {
        std::string_view pl = pick(r, kPlaces);
        s.text += fmt::format("{} lives near the {}. ", p.name, pl);
        s.questions.push_back({fmt::format("Where does {} live?", p.name), std::string(pl), others(kPlaces, pl)});
        break;
      }
      case 3: {
        int x = static_cast<int>(r.below(11)), y = static_cast<int>(r.below(10));
        bool digits = r.below(2) == 0;
        if (digits) s.text += fmt::format("{} plus {} is {}. ", x, y, x + y);
        else s.text += fmt::format("{} plus {} is {}. ", capital(kNumbers[x]), kNumbers[y], kNumbers[x + y]);
        Question q{fmt::format("What is {} plus {}?", kNumbers[x], kNumbers[y]), std::string(kNumbers[x + y]), {}};
        for (int i = 0; i <= 20; ++i)
          if (i != x + y) q.wrong.emplace_back(kNumbers[i]);
        s.questions.push_back(q);
        break;
      }
      default: {
        int x = 1 + static_cast<int>(r.below(20));
        int y = static_cast<int>(r.below(static_cast<std::uint32_t>(x + 1)));
        s.text += fmt::format("{} minus {} is {}. ", x, y, x - y);
        Question q{fmt::format("What is {} minus {}?", kNumbers[x], kNumbers[y]), std::string(kNumbers[x - y]), {}};
        for (int i = 0; i <= 20; ++i)
          if (i != x - y) q.wrong.emplace_back(kNumbers[i]);
        s.questions.push_back(q);
        break;
      }
    }
  }
  s.text.pop_back();  // trailing space
  return s;
}

// Two-digit sums and differences in digits. The questions ask for ones the text does not state,
// so answering them is arithmetic, not copying.
Story sums_story(WorldRng& r) {
  auto draw = [&r] {
    const bool plus = r.below(2) == 0;
    int x = 10 + static_cast<int>(r.below(90)), y = 10 + static_cast<int>(r.below(90));
    if (!plus && y > x) std::swap(x, y);
    return std::array<int, 3>{x, plus ? 1 : 0, y};
  };
  auto text_of = [](const std::array<int, 3>& e) { return fmt::format("{} {} {}", e[0], e[1] ? "plus" : "minus", e[2]); };
  auto value_of = [](const std::array<int, 3>& e) { return e[1] ? e[0] + e[2] : e[0] - e[2]; };
  Story s;
  const int k = 3 + static_cast<int>(r.below(4));
  for (int i = 0; i < k; ++i) {
    const auto e = draw();
    s.text += fmt::format("{} is {}. ", text_of(e), value_of(e));
  }
  s.text.pop_back();  // trailing space
  for (int i = 0; i < 2; ++i) {
    const auto e = draw();
    const int v = value_of(e);
    // Wrong answers a careless sum gives: off by ten first (a dropped carry), then near misses.
    Question q{fmt::format("What is {}?", text_of(e)), std::to_string(v), {}};
    for (int d : {10, -10, 1, -1, 2, -2, 9, -9, 11, -11, 20, -20})
      if (v + d >= 0) q.wrong.push_back(std::to_string(v + d));
    s.questions.push_back(q);
  }
  return s;
}

Story any_story(WorldRng& r) {
  switch (r.below(4)) {
    case 0:
    case 1: return trip_story(r);
    case 2: return count_story(r);
    default: return facts_story(r);
  }
}

// The sums kind is drawn only when asked for, so text without it is the same as before it existed.
Story story_for(WorldRng& r, const TextOptions& opt) {
  if (opt.sums_fraction > 0 && r.uniform() < opt.sums_fraction) return sums_story(r);
  return any_story(r);
}

// Four choices: the answer and three wrong ones, the first wrong one (mentioned in the story)
// kept with probability 1/2, the rest drawn from the pool; the answer lands on a random letter.
eval::McItem make_item(WorldRng& r, const Story& s, const Question& q) {
  eval::McItem it;
  it.question = s.text + "\nQuestion: " + q.text;
  std::vector<std::string> wrong;
  std::vector<std::string> pool;
  for (const auto& w : q.wrong)  // never the answer, never twice
    if (w != q.answer && std::find(pool.begin(), pool.end(), w) == pool.end()) pool.push_back(w);
  if (r.below(2) == 0) wrong.push_back(pool.front());
  pool.erase(pool.begin());
  while (wrong.size() < 3) {
    std::string w = pool[r.below(static_cast<std::uint32_t>(pool.size()))];
    if (std::find(wrong.begin(), wrong.end(), w) == wrong.end()) wrong.push_back(w);
  }
  it.answer = static_cast<int>(r.below(4));
  for (int i = 0, w = 0; i < 4; ++i) it.choices[i] = i == it.answer ? q.answer : wrong[w++];
  return it;
}

}  // namespace

std::string generate_document(WorldRng& rng, const TextOptions& opt) {
  Story s = story_for(rng, opt);
  std::string doc = s.text;
  double u = rng.uniform();
  if (u < opt.quiz_fraction) {
    const Question& q = s.questions[rng.below(static_cast<std::uint32_t>(s.questions.size()))];
    eval::McItem it = make_item(rng, s, q);
    doc = eval::mc_prompt(it) + " " + static_cast<char>('A' + it.answer);
  } else if (u < opt.quiz_fraction + opt.qa_fraction) {
    int n = 1 + static_cast<int>(rng.below(2));
    auto idx = distinct(rng, static_cast<std::uint32_t>(s.questions.size()),
                        std::min<int>(n, static_cast<int>(s.questions.size())));
    for (auto i : idx) doc += fmt::format("\nQuestion: {}\nAnswer: {}.", s.questions[i].text, s.questions[i].answer);
  }
  return doc;
}

std::string generate_corpus(std::uint64_t seed, std::size_t bytes, const std::string& separator,
                            const TextOptions& opt) {
  WorldRng rng(seed);
  std::string out;
  out.reserve(bytes + 1024);
  while (out.size() < bytes) {
    if (!out.empty()) out += separator;
    out += generate_document(rng, opt);
  }
  return out;
}

std::vector<eval::McItem> generate_mc(std::uint64_t seed, int count, const TextOptions& opt) {
  WorldRng rng(seed);
  std::vector<eval::McItem> items;
  items.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    Story s = story_for(rng, opt);
    const Question& q = s.questions[rng.below(static_cast<std::uint32_t>(s.questions.size()))];
    items.push_back(make_item(rng, s, q));
  }
  return items;
}

}  // namespace qlab::train
